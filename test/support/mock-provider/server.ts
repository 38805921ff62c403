import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { chunk, continueFrom, echoAnswer, prefillOf, usageFor, type Usage, type WireMessage } from './answers.js';
import { faultFromModel, parseFault, type Fault } from './faults.js';
import { hfFeatures, inputsOf, ollamaEmbeddings, openaiEmbeddings } from './embeddings.js';
import {
  anthropicDelta,
  anthropicError,
  anthropicFinish,
  anthropicMessage,
  anthropicStart,
  anthropicStop,
  geminiChunk,
  geminiError,
  geminiMessages,
  geminiResponse,
} from './native-wire.js';
import { geminiEmbeddings } from './embeddings.js';
import { errorBody, ollamaLine, openaiChunk, openaiCompletion, sendJson, type ChunkMeta, type Flavor } from './wire.js';

/** One request the mock received. Never rewritten after the answer, except `aborted`. */
export interface MockCall {
  path: string;
  /** The bearer token, if any. */
  key?: string;
  model?: string;
  body: any;
  /** The fault applied, as written (`429:3`), if any. */
  fault?: string;
  flavor: Flavor;
  /** 'embed' for the embeddings endpoints (OpenAI /embeddings, Ollama /api/embed, HF feature extraction). */
  kind: 'chat' | 'embed';
  stream: boolean;
  /** Epoch ms the request arrived. */
  at: number;
  /** True once the client closed the connection before the answer ended. */
  aborted?: boolean;
}

/** What to answer a call with. Every field is optional; the default is the echo answer. */
export interface MockResult {
  /** The whole answer; a trailing assistant prefill is continued from it. */
  text?: string;
  /** Stream pieces, used as is (no prefill handling). */
  chunks?: string[];
  finishReason?: string;
  usage?: Usage;
  /** A fault name, as in the model suffix. */
  fault?: string;
  /** A raw answer: status and JSON body (and headers). */
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** A raw response body written as is (a recorded SSE fixture); an array is written piece by piece. */
  raw?: string | string[];
  /** Splits `raw` into pieces of this many bytes (cutting through lines and UTF-8 characters). */
  rawPieceBytes?: number;
  contentType?: string;
}

export type MockResponder = (call: MockCall) => MockResult | undefined | Promise<MockResult | undefined>;

export interface MockProviderOptions {
  /** Retry-After of the 429 faults, in seconds. Default 2. */
  retryAfterSeconds?: number;
  /** retry-after-ms of the 429-ms fault. Default 300. */
  retryAfterMs?: number;
  /** Delay of slow-first / slow-body, in ms. Default 2500. */
  slowMs?: number;
  /** Pause between stream chunks, in ms. Default 3. */
  chunkDelayMs?: number;
  /** Models listed by /models and /api/tags. */
  models?: string[];
}

export interface MockProvider {
  /** Base URL, e.g. http://127.0.0.1:PORT (OpenAI under /v1, TGI flavour under /hf/v1, Ollama under /api). */
  readonly url: string;
  readonly calls: MockCall[];
  /** GET /models calls (a key re-probe, doctor): who asked, when, what it got. */
  readonly listCalls: Array<{ key: string | undefined; at: number; status: number }>;
  /** Keys answered with 401 (on /models too, as a key rule '401' is). */
  readonly badKeys: Set<string>;
  /** 'call' (MockCall) when a request arrives, 'aborted' (MockCall) when its client left early. */
  readonly events: EventEmitter;
  /** Connections open right now. */
  readonly openConnections: number;
  /** Connections accepted since start. */
  readonly totalConnections: number;
  callsByKey(key: string): MockCall[];
  /** Answers with a function, a fixed result, or results handed out in order (the last repeats). */
  respond(how: MockResponder | MockResult | MockResult[] | undefined): void;
  /** Applies `fault` to every call made with `key` (undefined clears the rule). */
  faultForKey(key: string, fault: string | undefined): void;
  /** Resolves with the first call (already made or future) matching `pred`. */
  waitForCall(pred: (c: MockCall) => boolean, timeoutMs?: number): Promise<MockCall>;
  /** Resolves once `call` was aborted by its client. */
  waitForAbort(call: MockCall, timeoutMs?: number): Promise<void>;
  /** Forgets calls, counters, rules and the responder. */
  reset(): void;
  /** Destroys every socket and stops listening. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Mock implements MockProvider {
  url = '';
  calls: MockCall[] = [];
  listCalls: Array<{ key: string | undefined; at: number; status: number }> = [];
  badKeys = new Set<string>();
  events = new EventEmitter();
  readonly #server = createServer((req, res) => void this.#handle(req, res));
  readonly #sockets = new Set<Socket>();
  readonly #counters = new Map<string, number>();
  readonly #keyFaults = new Map<string, string>();
  #responder: MockResponder | undefined;
  readonly #opts: Required<MockProviderOptions>;
  #closed: Promise<void> | undefined;

  constructor(options: MockProviderOptions) {
    this.#opts = {
      retryAfterSeconds: options.retryAfterSeconds ?? 2,
      retryAfterMs: options.retryAfterMs ?? 300,
      slowMs: options.slowMs ?? 2500,
      chunkDelayMs: options.chunkDelayMs ?? 3,
      models: options.models ?? ['gpt-mock', 'llama3.2:latest'],
    };
    this.events.setMaxListeners(100);
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      this.totalConnections++;
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  totalConnections = 0;

  get openConnections(): number {
    return this.#sockets.size;
  }

  async listen(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  callsByKey(key: string): MockCall[] {
    return this.calls.filter((c) => c.key === key);
  }

  respond(how: MockResponder | MockResult | MockResult[] | undefined): void {
    if (how === undefined || typeof how === 'function') this.#responder = how;
    else if (Array.isArray(how)) {
      let i = 0;
      this.#responder = () => how[Math.min(i++, how.length - 1)];
    } else this.#responder = () => how;
  }

  faultForKey(key: string, fault: string | undefined): void {
    if (fault === undefined) this.#keyFaults.delete(key);
    else {
      parseFault(fault);
      this.#keyFaults.set(key, fault);
    }
  }

  waitForCall(pred: (c: MockCall) => boolean, timeoutMs = 5_000): Promise<MockCall> {
    const found = this.calls.find(pred);
    if (found) return Promise.resolve(found);
    return this.#waitEvent('call', pred, timeoutMs, 'a matching call');
  }

  async waitForAbort(call: MockCall, timeoutMs = 5_000): Promise<void> {
    if (call.aborted) return;
    await this.#waitEvent('aborted', (c) => c === call, timeoutMs, `the abort of ${call.path}`);
  }

  #waitEvent(event: string, pred: (c: MockCall) => boolean, timeoutMs: number, what: string): Promise<MockCall> {
    return new Promise((resolve, reject) => {
      const onEvent = (c: MockCall) => {
        if (!pred(c)) return;
        clearTimeout(timer);
        this.events.off(event, onEvent);
        resolve(c);
      };
      const timer = setTimeout(() => {
        this.events.off(event, onEvent);
        reject(new Error(`mock provider: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.events.on(event, onEvent);
    });
  }

  reset(): void {
    this.calls.length = 0;
    this.listCalls.length = 0;
    this.#counters.clear();
    this.#keyFaults.clear();
    this.badKeys.clear();
    this.#responder = undefined;
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
    });
    return this.#closed;
  }

  /** Counts calls per fault+key+model, for the once/flap faults. */
  #count(fault: string, call: MockCall): number {
    const k = `${fault}|${call.key ?? ''}|${call.model ?? ''}`;
    const n = (this.#counters.get(k) ?? 0) + 1;
    this.#counters.set(k, n);
    return n;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const raw = await readBody(req);
    let body: any = {};
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        return sendJson(res, 400, errorBody('openai', 'the request body is not JSON', 'invalid_request_error', null));
      }
    }
    const auth = req.headers.authorization;
    const query = new URL(req.url ?? '/', 'http://mock').searchParams;
    // Anthropic's key comes as x-api-key, Gemini's as x-goog-api-key (or ?key=).
    const key = auth?.startsWith('Bearer ')
      ? auth.slice(7)
      : ((req.headers['x-api-key'] ?? req.headers['x-goog-api-key'] ?? query.get('key') ?? undefined) as string | undefined);
    if (req.method === 'GET' && path.endsWith('/v1beta/models')) {
      return sendJson(res, 200, { models: this.#opts.models.map((id) => ({ name: `models/${id}`, displayName: id })) });
    }

    if (
      req.method === 'GET' &&
      path.endsWith('/models') &&
      key !== undefined &&
      (this.badKeys.has(key) || this.#keyFaults.get(key) === '401')
    ) {
      this.listCalls.push({ key, at: Date.now(), status: 401 });
      return sendJson(res, 401, errorBody('openai', 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'));
    }
    if (req.method === 'GET' && path.endsWith('/models')) {
      this.listCalls.push({ key, at: Date.now(), status: 200 });
      return sendJson(res, 200, {
        object: 'list',
        data: this.#opts.models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'mock' })),
      });
    }
    if (req.method === 'GET' && path === '/api/tags') {
      return sendJson(res, 200, {
        models: this.#opts.models.map((name) => ({ name, model: name, modified_at: '2024-01-01T00:00:00Z', size: 1, digest: 'mock' })),
      });
    }
    let flavor: Flavor;
    let kind: MockCall['kind'] = 'chat';
    let model: string | undefined = typeof body.model === 'string' ? body.model : undefined;
    const featureModel = /^(?:\/hf)?\/hf-inference\/models\/(.+)\/pipeline\/feature-extraction$/.exec(path)?.[1];
    if (req.method === 'POST' && path === '/api/chat') flavor = 'ollama';
    else if (req.method === 'POST' && path.endsWith('/chat/completions')) flavor = path.startsWith('/hf/') ? 'hf' : 'openai';
    else if (req.method === 'POST' && path === '/api/embed') [flavor, kind] = ['ollama', 'embed'];
    else if (req.method === 'POST' && path.endsWith('/embeddings')) [flavor, kind] = [path.startsWith('/hf/') ? 'hf' : 'openai', 'embed'];
    else if (req.method === 'POST' && featureModel) [flavor, kind, model] = ['hf', 'embed', decodeURIComponent(featureModel)];
    else if (req.method === 'POST' && path.endsWith('/v1/messages')) flavor = 'anthropic';
    else if (req.method === 'POST' && /\/models\/[^/]+:(generateContent|streamGenerateContent|batchEmbedContents)$/.test(path)) {
      const [, m, method] = /\/models\/([^/]+):(\w+)$/.exec(path)!;
      [flavor, model] = ['gemini', decodeURIComponent(m!)];
      if (method === 'batchEmbedContents') kind = 'embed';
    } else return sendJson(res, 404, errorBody('openai', `no route ${req.method} ${path}`, 'not_found', null));

    const stream =
      kind === 'embed'
        ? false
        : flavor === 'ollama'
          ? body.stream !== false
          : flavor === 'gemini'
            ? path.includes(':streamGenerateContent')
            : body.stream === true;
    const call: MockCall = { path, key, model, body, flavor, kind, stream, at: Date.now() };
    let selfClosed = false;
    res.on('close', () => {
      if (!res.writableFinished && !selfClosed) {
        call.aborted = true;
        this.events.emit('aborted', call);
      }
    });
    const result = (await this.#responder?.(call)) ?? {};
    const faultText =
      (req.headers['x-mock-fault'] as string | undefined) ??
      this.#keyFaults.get(key ?? '') ??
      (key !== undefined && this.badKeys.has(key) ? '401' : undefined) ??
      faultFromModel(call.model) ??
      result.fault;
    if (faultText) call.fault = faultText;
    this.calls.push(call);
    this.events.emit('call', call);

    let fault: Fault | undefined;
    try {
      fault = parseFault(faultText);
    } catch (err) {
      return sendJson(res, 400, errorBody(flavor, (err as Error).message, 'invalid_request_error', null));
    }
    const destroy = (reset = false) => {
      selfClosed = true;
      if (reset) res.socket?.resetAndDestroy();
      else res.socket?.destroy();
    };
    await this.#answer(call, fault, result, res, destroy);
  }

  async #answer(
    call: MockCall,
    fault: Fault | undefined,
    result: MockResult,
    res: ServerResponse,
    destroy: (reset?: boolean) => void,
  ): Promise<void> {
    const { flavor } = call;
    const o = this.#opts;
    const fail = (
      status: number,
      message: string,
      type: string,
      code: string | null,
      headers: Record<string, string> = {},
      extra: Record<string, unknown> = {},
    ) => {
      if (flavor === 'anthropic') {
        // Anthropic says 529 when overloaded, and adds its rate-limit headers to a 429.
        const st = status === 503 ? 529 : status;
        const h = { ...headers };
        if (status === 429) {
          const waitS = headers['retry-after'] ? Number(headers['retry-after']) : Number(headers['retry-after-ms'] ?? 0) / 1000;
          h['anthropic-ratelimit-requests-remaining'] = '0';
          h['anthropic-ratelimit-requests-reset'] = new Date(Date.now() + waitS * 1000).toISOString();
        }
        return sendJson(res, st, anthropicError(st, message), h);
      }
      if (flavor === 'gemini') {
        // Gemini sends no Retry-After: the wait is the RetryInfo detail.
        const waitS = headers['retry-after']
          ? Number(headers['retry-after'])
          : headers['retry-after-ms']
            ? Number(headers['retry-after-ms']) / 1000
            : undefined;
        return sendJson(res, status, geminiError(status, message, status === 429 ? waitS : undefined));
      }
      return sendJson(res, status, errorBody(flavor, message, type, code, extra), headers);
    };
    const messages: WireMessage[] =
      flavor === 'gemini' ? geminiMessages(call.body) : Array.isArray(call.body.messages) ? call.body.messages : [];

    switch (fault?.name) {
      case '429':
      case '429-ms':
        if (this.#count(fault.name, call) > 1) break;
      // falls through: the first call of this key+model is limited
      case '429-always': {
        const headers: Record<string, string> =
          fault.name === '429-ms'
            ? { 'retry-after-ms': String(fault.arg ?? o.retryAfterMs) }
            : { 'retry-after': String(fault.arg ?? o.retryAfterSeconds) };
        return fail(429, 'Rate limit reached for requests', 'requests', 'rate_limit_exceeded', headers);
      }
      case '500-once':
        if (this.#count(fault.name, call) === 1)
          return fail(500, 'The server had an error while processing your request.', 'server_error', null);
        break;
      case 'flap':
        if (this.#count(fault.name, call) % 2 === 1) return fail(503, 'The engine is currently overloaded.', 'overloaded', null);
        break;
      case '503-always':
        if (flavor === 'hf') return fail(503, `Model ${call.model} is currently loading`, 'overloaded', null, {}, { estimated_time: 2.5 });
        return fail(503, 'The engine is currently overloaded, please try again later.', 'server_error', null);
      case '401':
        return fail(
          401,
          'Incorrect API key provided. You can find your API key at https://example.invalid/keys.',
          'invalid_request_error',
          'invalid_api_key',
        );
      case '403':
        return fail(
          403,
          `The model \`${call.model}\` does not exist or you do not have access to it.`,
          'invalid_request_error',
          'model_not_found',
        );
      case 'reset':
        destroy(true);
        return;
      case 'hang':
        return; // the socket stays open until the client or close() ends it
      case 'slow-first':
        await sleep(fault.arg ?? o.slowMs);
        if (res.destroyed) return;
        break;
      case 'context-length':
        if (flavor === 'hf') {
          return fail(
            422,
            'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 5000 `inputs` tokens and 100 `max_new_tokens`',
            'validation',
            null,
          );
        }
        return fail(
          400,
          "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.",
          'invalid_request_error',
          'context_length_exceeded',
        );
      case 'content-filter':
        return fail(
          400,
          'The response was filtered due to the prompt triggering the content management policy.',
          'invalid_request_error',
          'content_filter',
        );
      case 'prefill-reject':
        if (prefillOf(messages) !== undefined)
          return fail(400, 'The last message must have role user (assistant prefill is not supported).', 'invalid_request_error', null);
        break;
      default:
        break;
    }

    if (result.status !== undefined) return sendJson(res, result.status, result.body ?? {}, result.headers);
    if (result.raw !== undefined) {
      res.writeHead(200, {
        'content-type': result.contentType ?? (call.stream ? 'text/event-stream' : 'application/json'),
        ...result.headers,
      });
      let pieces: Array<string | Buffer> = Array.isArray(result.raw) ? result.raw : [result.raw];
      if (result.rawPieceBytes) {
        const all = Buffer.from(pieces.join(''));
        pieces = [];
        for (let i = 0; i < all.length; i += result.rawPieceBytes) pieces.push(all.subarray(i, i + result.rawPieceBytes));
      }
      for (const piece of pieces) {
        if (res.destroyed) return;
        res.write(piece);
        await sleep(o.chunkDelayMs);
      }
      res.end();
      return;
    }

    if (call.kind === 'embed') {
      const texts = inputsOf(call.body);
      const model = call.model ?? 'embed-mock';
      const dims = typeof call.body.dimensions === 'number' ? call.body.dimensions : undefined;
      if (flavor === 'gemini') return sendJson(res, 200, geminiEmbeddings(Array.isArray(call.body.requests) ? call.body.requests : []));
      if (call.path === '/api/embed') return sendJson(res, 200, ollamaEmbeddings(model, texts, dims));
      if (call.path.includes('/pipeline/feature-extraction')) return sendJson(res, 200, hfFeatures(texts));
      return sendJson(res, 200, openaiEmbeddings(model, texts, dims, call.body.encoding_format));
    }

    const prefill = prefillOf(messages);
    const text = result.chunks ? result.chunks.join('') : continueFrom(result.text ?? echoAnswer(messages), prefill);
    const pieces = result.chunks ?? chunk(text);
    const usage = result.usage ?? usageFor(messages, text);
    const finishReason =
      fault?.name === 'content-filter-finish' ? 'content_filter' : (result.finishReason ?? (flavor === 'ollama' ? 'stop' : 'stop'));
    const meta: ChunkMeta = {
      id: `chatcmpl-mock${this.calls.length}`,
      created: Math.floor(call.at / 1000),
      model: call.model ?? 'gpt-mock',
    };

    if (flavor === 'anthropic' || flavor === 'gemini')
      return this.#answerNative(call, fault, res, destroy, { text, pieces, usage, finishReason, meta });

    if (!call.stream) {
      if (fault?.name === 'slow-body') {
        res.flushHeaders();
        await sleep(fault.arg ?? o.slowMs);
        if (res.destroyed) return;
      }
      if (flavor === 'ollama') {
        const line = ollamaLine(meta.model, text, true, finishReason, usage);
        return sendJson(res, 200, JSON.parse(line));
      }
      return sendJson(res, 200, openaiCompletion(meta, text, finishReason, usage));
    }

    res.writeHead(
      200,
      flavor === 'ollama'
        ? { 'content-type': 'application/x-ndjson' }
        : { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
    );
    if (fault?.name === 'slow-body') {
      res.flushHeaders();
      await sleep(fault.arg ?? o.slowMs);
    }
    const write = async (s: string) => {
      if (res.destroyed) return false;
      res.write(s);
      await sleep(o.chunkDelayMs);
      return !res.destroyed;
    };
    // Faults that break the stream strike after half of the pieces (at least one).
    const breakAt =
      fault && ['cut', 'cut-clean', 'stall', 'malformed', 'content-filter-finish'].includes(fault.name)
        ? Math.max(1, Math.floor(pieces.length / 2))
        : -1;
    const shown = fault?.name === 'content-filter-finish' ? pieces.slice(0, breakAt) : pieces;

    if (flavor === 'ollama') {
      for (let i = 0; i < shown.length; i++) {
        if (i === breakAt && (await this.#breakStream(fault!, res, destroy, '{"model": "broken\n'))) return;
        if (!(await write(ollamaLine(meta.model, shown[i]!, false)))) return;
      }
      await write(ollamaLine(meta.model, '', true, finishReason, usage));
      res.end();
      return;
    }

    if (!(await write(openaiChunk(meta, { role: 'assistant', content: '' }, null)))) return;
    for (let i = 0; i < shown.length; i++) {
      if (i === breakAt && (await this.#breakStream(fault!, res, destroy, 'data: {"id": "chatcmpl-broken", "choices": [\n\n'))) return;
      if (!(await write(openaiChunk(meta, { content: shown[i] }, null)))) return;
    }
    if (!(await write(openaiChunk(meta, {}, finishReason)))) return;
    if (call.body.stream_options?.include_usage === true && !(await write(openaiChunk(meta, {}, null, usage)))) return;
    if (fault?.name === 'finish-stall') return;
    if (fault?.name !== 'no-done' && !(await write('data: [DONE]\n\n'))) return;
    res.end();
  }

  /** An answer in Anthropic's or Gemini's wire format, with the same stream faults as OpenAI's. */
  async #answerNative(
    call: MockCall,
    fault: Fault | undefined,
    res: ServerResponse,
    destroy: (reset?: boolean) => void,
    a: { text: string; pieces: string[]; usage: Usage; finishReason: string; meta: ChunkMeta },
  ): Promise<void> {
    const o = this.#opts;
    const anthropic = call.flavor === 'anthropic';
    if (fault?.name === 'content-filter' && !anthropic) {
      // Gemini refuses a prompt with 200 and a promptFeedback, no candidate.
      return sendJson(res, 200, {
        promptFeedback: { blockReason: 'SAFETY', safetyRatings: [] },
        usageMetadata: { promptTokenCount: a.usage.prompt_tokens, totalTokenCount: a.usage.prompt_tokens },
      });
    }
    if (!call.stream) {
      if (fault?.name === 'slow-body') {
        res.flushHeaders();
        await sleep(fault.arg ?? o.slowMs);
        if (res.destroyed) return;
      }
      return sendJson(
        res,
        200,
        anthropic ? anthropicMessage(a.meta, a.text, a.finishReason, a.usage) : geminiResponse(a.meta, a.text, a.finishReason, a.usage),
      );
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (fault?.name === 'slow-body') {
      res.flushHeaders();
      await sleep(fault.arg ?? o.slowMs);
    }
    const write = async (s: string) => {
      if (res.destroyed) return false;
      res.write(s);
      await sleep(o.chunkDelayMs);
      return !res.destroyed;
    };
    const breakAt =
      fault && ['cut', 'cut-clean', 'stall', 'malformed', 'content-filter-finish'].includes(fault.name)
        ? Math.max(1, Math.floor(a.pieces.length / 2))
        : -1;
    const shown = fault?.name === 'content-filter-finish' ? a.pieces.slice(0, breakAt) : a.pieces;
    const broken = anthropic ? 'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n' : 'data: {"candidates": [\n\n';
    if (anthropic && !(await write(anthropicStart(a.meta, a.usage)))) return;
    for (let i = 0; i < shown.length; i++) {
      if (i === breakAt && (await this.#breakStream(fault!, res, destroy, broken))) return;
      if (!(await write(anthropic ? anthropicDelta(shown[i]!) : geminiChunk(a.meta, shown[i]!)))) return;
    }
    if (anthropic) {
      if (!(await write(anthropicFinish(a.finishReason, a.usage)))) return;
      if (fault?.name === 'finish-stall') return;
      if (fault?.name !== 'no-done' && !(await write(anthropicStop()))) return;
    } else {
      // Gemini has no end marker: the last chunk carries finishReason and the usage.
      if (!(await write(geminiChunk(a.meta, '', a.finishReason, a.usage)))) return;
      if (fault?.name === 'finish-stall') return;
    }
    res.end();
  }

  /** Breaks a stream; returns true when the stream must not go on. */
  async #breakStream(fault: Fault, res: ServerResponse, destroy: () => void, malformed: string): Promise<boolean> {
    switch (fault.name) {
      case 'cut':
        destroy();
        return true;
      case 'cut-clean':
        res.end();
        return true;
      case 'stall':
        return true; // nothing more is written; the socket stays open until the client leaves
      case 'malformed':
        for (let i = 0; i < Math.max(1, fault.arg ?? 1); i++) res.write(malformed);
        return false;
      default:
        return false;
    }
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts a fault-injecting upstream on 127.0.0.1 (a free port). Close it in afterEach. */
export async function startMockProvider(options: MockProviderOptions = {}): Promise<MockProvider> {
  const mock = new Mock(options);
  await mock.listen();
  return mock;
}
