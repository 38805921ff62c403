import type { EventSourceMessage } from 'eventsource-parser';
import type { Logger } from '../../../runtime/logger.js';
import type { LanguageModel, PhaseTimeouts, ProviderCallOptions, ProviderSettings, StreamPart } from '../../provider.js';
import { PROVIDER_SPEC } from '../../provider.js';
import type { ChatCompletion } from '../../types.js';
import { sseEvents } from '../http/events.js';
import { providerSecrets, type CallContext } from '../http/provider-error.js';
import { failOnStatus, malformed, readJson } from '../http/response.js';
import { driveStream, type Step } from '../http/stream-driver.js';
import { type Upstream, type UpstreamResponse, upstreamFor } from '../http/upstream.js';
import { convertRequest } from './convert-request.js';
import { convertResponse } from './convert-response.js';
import { eventDecoder } from './decode-event.js';
import { parseAnthropicError, rateLimitResetMs } from './parse-error.js';

/** The Messages API version sent unless the provider's headers set one. */
export const ANTHROPIC_VERSION = '2023-06-01';

/**
 * Anthropic's native Messages API: `POST {baseURL}/messages` (SSE when streamed) and
 * `GET {baseURL}/models`, key in `x-api-key`, `anthropic-version` on every call (and any
 * `anthropic-beta` the provider's headers add). 529 overloaded is a server fault (retried,
 * then failed over); a 429's wait is the larger of retry-after and the exhausted
 * `anthropic-ratelimit-*-reset`. Anthropic continues an assistant prefill, so broken streams can
 * be continued here.
 */
export class AnthropicModel implements LanguageModel {
  readonly spec = PROVIDER_SPEC;
  readonly name: string;
  readonly type: string = 'anthropic';
  readonly supportsPrefill = true;
  readonly #upstream: Upstream;
  readonly #prefix: string;
  readonly #version: string;

  constructor(name: string, config: ProviderSettings, options: { log?: Logger } = {}) {
    this.name = name;
    this.#secrets = providerSecrets(config);
    this.#upstream = upstreamFor(name, config, options);
    // Both https://api.anthropic.com and https://api.anthropic.com/v1 work as the base URL.
    this.#prefix = /\/v1\/?$/.test(new URL(config.baseURL).pathname) ? '' : '/v1';
    const set = Object.keys(config.headers ?? {}).find((h) => h.toLowerCase() === 'anthropic-version');
    this.#version = set ? config.headers[set]! : ANTHROPIC_VERSION;
  }

  #headers(apiKey: string | undefined): Record<string, string> {
    return { 'anthropic-version': this.#version, ...(apiKey ? { 'x-api-key': apiKey } : {}) };
  }

  async #fail(res: UpstreamResponse, apiKey: string | undefined): Promise<void> {
    const resetMs = res.status === 429 ? rateLimitResetMs(res.headers) : undefined;
    await failOnStatus(res, (t) => ({ ...parseAnthropicError(t), ...(resetMs !== undefined ? { retryAfterMs: resetMs } : {}) }), apiKey);
  }

  #ctx(o: ProviderCallOptions): CallContext {
    return { provider: this.name, model: o.request.model, keyIndex: o.keyIndex, secrets: this.#secrets };
  }

  /** Replaced in upstream text before it is quoted in an error. */
  readonly #secrets: string[];

  async doGenerate(o: ProviderCallOptions): Promise<{ completion: ChatCompletion }> {
    const { body, jsonTool, native } = convertRequest(o.request, {
      stream: false,
      ...(o.prefill === undefined ? {} : { prefill: o.prefill }),
    });
    const res = await this.#upstream.request({
      method: 'POST',
      path: `${this.#prefix}/messages`,
      body,
      headers: this.#headers(o.apiKey),
      ctx: this.#ctx(o),
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await this.#fail(res, o.apiKey);
    const completion = convertResponse(await readJson(res), o.request.model, jsonTool, native);
    if (!completion) throw malformed(res, 'a message with content');
    return { completion };
  }

  async doStream(o: ProviderCallOptions): Promise<AsyncIterable<StreamPart>> {
    const ctx = this.#ctx(o);
    const { body, jsonTool, native } = convertRequest(o.request, {
      stream: true,
      ...(o.prefill === undefined ? {} : { prefill: o.prefill }),
    });
    const res = await this.#upstream.request({
      method: 'POST',
      path: `${this.#prefix}/messages`,
      body,
      headers: this.#headers(o.apiKey),
      accept: 'text/event-stream',
      ctx,
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await this.#fail(res, o.apiKey);
    const decoded = eventDecoder(ctx, jsonTool);
    // A caller's own Messages body: every event that parsed also goes back to it as it came.
    const decode = native ? withNativeEvents(decoded) : decoded;
    // Anthropic refuses a prefill ending in whitespace, so it went without it; the caller already
    // has that whitespace, so the continuation's repeat of it is dropped.
    let dropLeading = o.prefill === undefined ? 0 : o.prefill.length - o.prefill.trimEnd().length;
    const steps =
      dropLeading === 0
        ? decode
        : (e: EventSourceMessage) =>
            decode(e).map((s) => {
              if (dropLeading === 0 || s.kind !== 'text') return s;
              const ws = /^\s*/.exec(s.text)![0].length;
              const cut = Math.min(ws, dropLeading);
              dropLeading = cut === s.text.length ? dropLeading - cut : 0;
              return { ...s, text: s.text.slice(cut) };
            });
    return driveStream(sseEvents(res.body.chunks()), steps, res.guard, { model: o.request.model });
  }

  async doListModels(o: { apiKey?: string; signal: AbortSignal; timeouts: PhaseTimeouts }): Promise<string[]> {
    const res = await this.#upstream.request({
      method: 'GET',
      path: `${this.#prefix}/models?limit=1000`,
      headers: this.#headers(o.apiKey),
      ctx: { provider: this.name, model: '*', keyIndex: -1, secrets: this.#secrets },
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await this.#fail(res, o.apiKey);
    const body = (await readJson(res)) as { data?: Array<{ id?: unknown }> } | null;
    if (!body || !Array.isArray(body.data)) throw malformed(res, 'a model list');
    return body.data.map((m) => m?.id).filter((id): id is string => typeof id === 'string');
  }

  close(): Promise<void> {
    return this.#upstream.close();
  }
}

/** Adds each parsed event itself ahead of what it decodes to (a malformed or error event is not forwarded). */
function withNativeEvents(decode: (e: EventSourceMessage) => Step[]): (e: EventSourceMessage) => Step[] {
  return (e) => {
    const steps = decode(e);
    if (e.data.trim() === '' || steps.some((s) => s.kind === 'malformed' || s.kind === 'error')) return steps;
    return [{ kind: 'native', event: { event: e.event ?? 'message', data: e.data } }, ...steps];
  };
}
