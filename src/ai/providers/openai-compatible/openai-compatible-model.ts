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
import type { Logger } from '../../../runtime/logger.js';
import { sseEvents } from '../http/events.js';
import { providerSecrets, type CallContext } from '../http/provider-error.js';
import { failOnStatus, malformed, readJson, readJsonText } from '../http/response.js';
import { withRawBody } from '../../raw.js';
import type { UpstreamErrorInfo } from '../http/status.js';
import { driveStream } from '../http/stream-driver.js';
import { type Upstream, upstreamFor } from '../http/upstream.js';
import { convertEmbeddings, embeddingsBody } from './convert-embeddings.js';
import { convertRequest } from './convert-request.js';
import { convertResponse, sameAsConverted } from './convert-response.js';
import { decodeChunk } from './decode-chunk.js';
import { parseErrorBody } from './parse-error.js';
import { isObject, type WireCompletion } from './wire-types.js';

/**
 * OpenAI chat completions over HTTP: OpenAI, Groq, OpenRouter, Mistral, Together, vLLM, Ollama's
 * /v1 — anything that speaks `POST {baseURL}/chat/completions` and `GET {baseURL}/models`.
 */
export class OpenAICompatibleModel implements LanguageModel {
  readonly spec = PROVIDER_SPEC;
  readonly name: string;
  readonly type: string = 'openai-compatible';
  readonly supportsPrefill: boolean;
  protected readonly upstream: Upstream;

  constructor(name: string, config: ProviderSettings, options: { log?: Logger } = {}) {
    this.name = name;
    this.supportsPrefill = config.prefill;
    this.#secrets = providerSecrets(config);
    this.upstream = upstreamFor(name, config, options);
  }

  /** Reads this upstream's error bodies. */
  protected parseError(text: string): UpstreamErrorInfo {
    return parseErrorBody(text);
  }

  /** Replaced in upstream text before it is quoted in an error. */
  readonly #secrets: string[];

  #ctx(o: ProviderCallOptions): CallContext {
    return { provider: this.name, model: o.request.model, keyIndex: o.keyIndex, secrets: this.#secrets };
  }

  async doGenerate(o: ProviderCallOptions): Promise<{ completion: ChatCompletion }> {
    const res = await this.upstream.request({
      method: 'POST',
      path: '/chat/completions',
      body: convertRequest(o.request, { stream: false, ...(o.prefill === undefined ? {} : { prefill: o.prefill }) }),
      ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
      ctx: this.#ctx(o),
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await failOnStatus(res, (t) => this.parseError(t), o.apiKey);
    const { body, text } = await readJsonText(res);
    const completion = isObject(body) ? convertResponse(body as WireCompletion, o.request.model) : undefined;
    if (!completion) throw malformed(res, 'a choice with a message');
    if (sameAsConverted(body as WireCompletion)) withRawBody(completion, text);
    return { completion };
  }

  async doStream(o: ProviderCallOptions): Promise<AsyncIterable<StreamPart>> {
    const ctx = this.#ctx(o);
    const res = await this.upstream.request({
      method: 'POST',
      path: '/chat/completions',
      body: convertRequest(o.request, { stream: true, ...(o.prefill === undefined ? {} : { prefill: o.prefill }) }),
      ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
      accept: 'text/event-stream',
      ctx,
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await failOnStatus(res, (t) => this.parseError(t), o.apiKey);
    return driveStream(sseEvents(res.body.chunks()), (e) => decodeChunk(e, ctx), res.guard, { model: o.request.model });
  }

  async doEmbed(o: EmbedCallOptions): Promise<EmbedResult> {
    const res = await this.upstream.request({
      method: 'POST',
      path: '/embeddings',
      body: embeddingsBody(o.request),
      ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
      ctx: { provider: this.name, model: o.request.model, keyIndex: o.keyIndex },
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await failOnStatus(res, (t) => this.parseError(t), o.apiKey);
    const result = convertEmbeddings(await readJson(res), o.request.model);
    if (!result) throw malformed(res, 'one embedding per input');
    return result;
  }

  async doListModels(o: { apiKey?: string; signal: AbortSignal; timeouts: PhaseTimeouts }): Promise<string[]> {
    const res = await this.upstream.request({
      method: 'GET',
      path: '/models',
      ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
      ctx: { provider: this.name, model: '*', keyIndex: -1, secrets: this.#secrets },
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await failOnStatus(res, (t) => this.parseError(t), o.apiKey);
    const body = await readJson(res);
    const data = isObject(body) && Array.isArray(body.data) ? body.data : undefined;
    if (!data) throw malformed(res, 'a model list');
    return data.map((m) => (isObject(m) && typeof m.id === 'string' ? m.id : undefined)).filter((id): id is string => id !== undefined);
  }

  close(): Promise<void> {
    return this.upstream.close();
  }
}
