import type { ProviderError } from '../../../errors.js';
import type { Logger } from '../../../runtime/logger.js';
import type {
  EmbedCallOptions,
  EmbedResult,
  LanguageModel,
  PhaseTimeouts,
  ProviderCallOptions,
  ProviderSettings,
  StreamPart,
} from '../../provider.js';
import { PROVIDER_SPEC } from '../../provider.js';
import type { ChatCompletion } from '../../types.js';
import { sseEvents } from '../http/events.js';
import { providerError, providerSecrets, where, type CallContext } from '../http/provider-error.js';
import { failOnStatus, malformed, readJson } from '../http/response.js';
import type { UpstreamResponse } from '../http/upstream.js';
import type { Step } from '../http/stream-driver.js';
import { driveStream } from '../http/stream-driver.js';
import { type Upstream, upstreamFor } from '../http/upstream.js';
import { convertRequest } from './convert-request.js';
import { responseDecoder } from './decode-response.js';
import { parseGeminiError } from './parse-error.js';

/**
 * Google's Gemini API (generativelanguage.googleapis.com/v1beta): `models/{m}:generateContent`,
 * `:streamGenerateContent?alt=sse`, `:batchEmbedContents` and `GET models`, key in
 * `x-goog-api-key`. Safety blocks are the content filter; RESOURCE_EXHAUSTED is a rate limit with
 * the RetryInfo delay as its cooldown.
 */
export class GeminiModel implements LanguageModel {
  readonly spec = PROVIDER_SPEC;
  readonly name: string;
  readonly type: string = 'gemini';
  readonly supportsPrefill: boolean;
  readonly #upstream: Upstream;

  constructor(name: string, config: ProviderSettings, options: { log?: Logger } = {}) {
    this.name = name;
    this.#secrets = providerSecrets(config);
    this.supportsPrefill = config.prefill;
    this.#upstream = upstreamFor(name, config, options);
  }

  #headers(apiKey: string | undefined): Record<string, string> {
    return apiKey ? { 'x-goog-api-key': apiKey } : {};
  }

  #ctx(o: { request: { model: string }; keyIndex: number }): CallContext {
    return { provider: this.name, model: o.request.model, keyIndex: o.keyIndex, secrets: this.#secrets };
  }

  /** Replaced in upstream text before it is quoted in an error. */
  readonly #secrets: string[];

  static path(model: string, method: string): string {
    const m = model.startsWith('models/') ? model.slice(7) : model;
    return `/models/${encodeURIComponent(m)}:${method}`;
  }

  async doGenerate(o: ProviderCallOptions): Promise<{ completion: ChatCompletion }> {
    const ctx = this.#ctx(o);
    const res = await this.#upstream.request({
      method: 'POST',
      path: GeminiModel.path(o.request.model, 'generateContent'),
      body: convertRequest(o.request, o.prefill === undefined ? {} : { prefill: o.prefill }),
      headers: this.#headers(o.apiKey),
      ctx,
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await failOnGeminiStatus(res, o.apiKey);
    const steps = responseDecoder(ctx)(await readJson(res));
    return { completion: completionOf(steps, ctx, () => malformed(res, 'a candidate')) };
  }

  async doStream(o: ProviderCallOptions): Promise<AsyncIterable<StreamPart>> {
    const ctx = this.#ctx(o);
    const res = await this.#upstream.request({
      method: 'POST',
      path: `${GeminiModel.path(o.request.model, 'streamGenerateContent')}?alt=sse`,
      body: convertRequest(o.request, o.prefill === undefined ? {} : { prefill: o.prefill }),
      headers: this.#headers(o.apiKey),
      accept: 'text/event-stream',
      ctx,
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await failOnGeminiStatus(res, o.apiKey);
    const decode = responseDecoder(ctx);
    return driveStream(
      sseEvents(res.body.chunks()),
      (e) => {
        if (e.data.trim() === '') return [];
        try {
          return decode(JSON.parse(e.data));
        } catch {
          // Dropped and counted; ai.maxMalformedEvents of them end the stream as broken.
          return [{ kind: 'malformed' }];
        }
      },
      res.guard,
      { model: o.request.model },
    );
  }

  async doEmbed(o: EmbedCallOptions): Promise<EmbedResult> {
    const model = o.request.model.startsWith('models/') ? o.request.model : `models/${o.request.model}`;
    const res = await this.#upstream.request({
      method: 'POST',
      path: GeminiModel.path(o.request.model, 'batchEmbedContents'),
      body: {
        requests: o.request.input.map((text) => ({
          model,
          content: { parts: [{ text }] },
          ...(o.request.dimensions !== undefined ? { outputDimensionality: o.request.dimensions } : {}),
        })),
      },
      headers: this.#headers(o.apiKey),
      ctx: this.#ctx(o),
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await failOnGeminiStatus(res, o.apiKey);
    const body = (await readJson(res)) as { embeddings?: Array<{ values?: unknown }> } | null;
    const vectors = body?.embeddings?.map((e) => e?.values);
    if (!Array.isArray(vectors) || !vectors.every((v) => Array.isArray(v) && v.every((x) => typeof x === 'number')))
      throw malformed(res, 'embeddings');
    // Gemini reports no token counts for embeddings.
    return { vectors: vectors as number[][], model: o.request.model };
  }

  async doListModels(o: { apiKey?: string; signal: AbortSignal; timeouts: PhaseTimeouts }): Promise<string[]> {
    const res = await this.#upstream.request({
      method: 'GET',
      path: '/models?pageSize=1000',
      headers: this.#headers(o.apiKey),
      ctx: { provider: this.name, model: '*', keyIndex: -1, secrets: this.#secrets },
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await failOnGeminiStatus(res, o.apiKey);
    const body = (await readJson(res)) as { models?: Array<{ name?: unknown }> } | null;
    if (!body || !Array.isArray(body.models)) throw malformed(res, 'a model list');
    return body.models
      .map((m) => (typeof m?.name === 'string' ? m.name.replace(/^models\//, '') : undefined))
      .filter((n): n is string => n !== undefined);
  }

  close(): Promise<void> {
    return this.#upstream.close();
  }
}

/** The steps of one whole answer as a completion. */
function completionOf(steps: Step[], ctx: CallContext, malformedError: () => Error): ChatCompletion {
  let id = '';
  let model = ctx.model;
  let text = '';
  let finish: string | undefined;
  let usage: ChatCompletion['usage'];
  const calls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  for (const s of steps) {
    if (s.kind === 'error') throw s.error;
    if (s.kind === 'start') [id, model] = [s.id, s.model];
    else if (s.kind === 'text') text += s.text;
    else if (s.kind === 'tool-call')
      calls.push({ id: s.id ?? '', type: 'function', function: { name: s.name ?? '', arguments: s.arguments ?? '{}' } });
    else if (s.kind === 'finish-reason') finish = s.reason;
    else if (s.kind === 'usage') usage = s.usage;
  }
  if (finish === undefined) throw malformedError();
  const message: ChatCompletion['choices'][number]['message'] = { role: 'assistant', content: calls.length > 0 && !text ? null : text };
  if (calls.length > 0) message.tool_calls = calls;
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, finish_reason: finish }],
    ...(usage ? { usage } : {}),
  };
}

/**
 * Gemini answers a bad key with 400 INVALID_ARGUMENT ("API key not valid"), not 401: it is the
 * key's fault, so it is an auth failure (the key is disabled, the next one tried), not a bad request.
 */
async function failOnGeminiStatus(res: UpstreamResponse, apiKey: string | undefined): Promise<void> {
  try {
    await failOnStatus(res, parseGeminiError, apiKey);
  } catch (err) {
    const e = err as ProviderError;
    if (e.details?.status === 400 && /API key not valid|API_KEY_INVALID/i.test(e.message)) {
      throw providerError('auth', res.guard.ctx, `${where(res.guard.ctx)} answered 400: the API key is not valid`, { status: 401 });
    }
    throw err;
  }
}
