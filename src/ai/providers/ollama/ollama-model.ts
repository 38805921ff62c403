import type { Logger } from '../../../runtime/logger.js';
import type {
  EmbedCallOptions,
  EmbedResult,
  LanguageModel,
  PhaseTimeouts,
  ProviderCallOptions,
  StreamPart,
  ProviderSettings,
} from '../../provider.js';
import { PROVIDER_SPEC } from '../../provider.js';
import type { ChatCompletion } from '../../types.js';
import { ndjsonLines } from '../http/events.js';
import { providerSecrets, type CallContext } from '../http/provider-error.js';
import { failOnStatus, malformed, readJson } from '../http/response.js';
import { driveStream } from '../http/stream-driver.js';
import { type Upstream, upstreamFor } from '../http/upstream.js';
import { convertRequest } from './convert-request.js';
import { convertUsage } from './convert-usage.js';
import { createdOf, decodeLine, ollamaId, ollamaToolCalls } from './decode-line.js';
import { mapFinishReason } from './map-finish-reason.js';
import { parseOllamaError } from './parse-error.js';
import type { OllamaChatLine, OllamaTags } from './wire-types.js';

/** Ollama's native API: `POST /api/chat` (NDJSON stream) and `GET /api/tags`, under the base URL. */
export class OllamaModel implements LanguageModel {
  readonly spec = PROVIDER_SPEC;
  readonly name: string;
  readonly type: string = 'ollama';
  readonly supportsPrefill: boolean;
  readonly #upstream: Upstream;

  constructor(name: string, config: ProviderSettings, options: { log?: Logger } = {}) {
    this.name = name;
    this.supportsPrefill = config.prefill;
    this.#secrets = providerSecrets(config);
    this.#upstream = upstreamFor(name, config, options);
  }

  /** Replaced in upstream text before it is quoted in an error. */
  readonly #secrets: string[];

  #ctx(o: ProviderCallOptions): CallContext {
    return { provider: this.name, model: o.request.model, keyIndex: o.keyIndex, secrets: this.#secrets };
  }

  #call(o: ProviderCallOptions, stream: boolean) {
    return this.#upstream.request({
      method: 'POST',
      path: '/api/chat',
      body: convertRequest(o.request, { stream, ...(o.prefill === undefined ? {} : { prefill: o.prefill }) }),
      ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
      accept: stream ? 'application/x-ndjson' : 'application/json',
      ctx: this.#ctx(o),
      signal: o.signal,
      timeouts: o.timeouts,
    });
  }

  async doGenerate(o: ProviderCallOptions): Promise<{ completion: ChatCompletion }> {
    const res = await this.#call(o, false);
    await failOnStatus(res, parseOllamaError, o.apiKey);
    const line = (await readJson(res)) as OllamaChatLine | null;
    if (!line || typeof line !== 'object' || typeof line.message?.content !== 'string') throw malformed(res, 'a message');
    const usage = convertUsage(line);
    return {
      completion: {
        id: ollamaId(),
        object: 'chat.completion',
        created: createdOf(line),
        model: line.model ?? o.request.model,
        choices: [{ index: 0, ...generatedChoice(line) }],
        ...(usage ? { usage } : {}),
      },
    };
  }

  async doStream(o: ProviderCallOptions): Promise<AsyncIterable<StreamPart>> {
    const ctx = this.#ctx(o);
    const res = await this.#call(o, true);
    await failOnStatus(res, parseOllamaError, o.apiKey);
    const id = ollamaId();
    return driveStream(ndjsonLines(res.body.chunks()), (line) => decodeLine(line, ctx, id), res.guard, { model: o.request.model });
  }

  /** `POST /api/embed`: `{model, input, dimensions}` → `{embeddings, prompt_eval_count}`. */
  async doEmbed(o: EmbedCallOptions): Promise<EmbedResult> {
    const body: Record<string, unknown> = { model: o.request.model, input: o.request.input };
    if (o.request.dimensions !== undefined) body.dimensions = o.request.dimensions;
    const res = await this.#upstream.request({
      method: 'POST',
      path: '/api/embed',
      body,
      ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
      ctx: { provider: this.name, model: o.request.model, keyIndex: o.keyIndex },
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await failOnStatus(res, parseOllamaError, o.apiKey);
    const answer = (await readJson(res)) as { model?: unknown; embeddings?: unknown; prompt_eval_count?: unknown } | null;
    const vectors = answer?.embeddings;
    if (!Array.isArray(vectors) || !vectors.every((v) => Array.isArray(v) && v.every((x) => typeof x === 'number')))
      throw malformed(res, 'embeddings');
    const prompt = typeof answer?.prompt_eval_count === 'number' ? answer.prompt_eval_count : 0;
    return {
      vectors: vectors as number[][],
      model: typeof answer?.model === 'string' ? answer.model : o.request.model,
      usage: { prompt_tokens: prompt, total_tokens: prompt },
    };
  }

  async doListModels(o: { apiKey?: string; signal: AbortSignal; timeouts: PhaseTimeouts }): Promise<string[]> {
    const res = await this.#upstream.request({
      method: 'GET',
      path: '/api/tags',
      ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
      ctx: { provider: this.name, model: '*', keyIndex: -1, secrets: this.#secrets },
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await failOnStatus(res, parseOllamaError, o.apiKey);
    const body = (await readJson(res)) as OllamaTags | null;
    if (!body || !Array.isArray(body.models)) throw malformed(res, 'a model list');
    return body.models.map((m) => m?.name ?? m?.model).filter((n): n is string => typeof n === 'string');
  }

  close(): Promise<void> {
    return this.#upstream.close();
  }
}

/** The first choice of a whole Ollama answer: its text, its tool calls (OpenAI's shape) and why it ended. */
function generatedChoice(line: OllamaChatLine): { message: ChatCompletion['choices'][number]['message']; finish_reason: string } {
  const calls = ollamaToolCalls(line.message?.tool_calls);
  const reason = mapFinishReason(line.done_reason);
  if (calls.length === 0) return { message: { role: 'assistant', content: line.message?.content ?? '' }, finish_reason: reason };
  return {
    message: {
      role: 'assistant',
      content: line.message?.content || null,
      tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
    },
    finish_reason: reason === 'stop' ? 'tool_calls' : reason,
  };
}
