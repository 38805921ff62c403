import type { Logger } from '../runtime/index.js';
import { cacheAdmits, type CacheMode, type CachedAnswer, type ResponseCache } from './cache.js';
import type { AiMetrics } from './metrics.js';
import type { AiCallOptions, AiMeta, ChatRequest } from './types.js';

export type CacheLookup = { hit?: CachedAnswer; status: AiMeta['cache'] };

/** The lookup result without a cache (no await on the hot path). */
export const BYPASS: CacheLookup = Object.freeze({ status: 'bypass' });

/** Finish reasons of a whole answer worth replaying; anything else is never cached. */
const CACHEABLE = new Set(['stop', 'length', 'tool_calls', 'function_call']);

/**
 * The chat side of the response cache: the policy decides which requests may use it (cacheAdmits),
 * and only answers to those requests, with a finish worth replaying, are stored.
 */
export class AnswerCache {
  readonly cache: ResponseCache;
  readonly #mode: CacheMode;
  readonly #metrics: AiMetrics;
  readonly #log: Logger;
  /** Requests the cache policy let in, so that only their answers are stored. */
  readonly #admitted = new WeakSet<ChatRequest>();

  constructor(cache: ResponseCache, mode: CacheMode, metrics: AiMetrics, log: Logger) {
    this.cache = cache;
    this.#mode = mode;
    this.#metrics = metrics;
    this.#log = log;
  }

  async lookup(key: string, req: ChatRequest, options: AiCallOptions): Promise<CacheLookup> {
    if (!cacheAdmits(req, options, this.#mode)) {
      this.#metrics.cacheBypass.inc();
      return BYPASS;
    }
    this.#admitted.add(req);
    const hit = await this.cache.get(key);
    (hit ? this.#metrics.cacheHit : this.#metrics.cacheMiss).inc();
    return hit ? { hit, status: 'hit' } : { status: 'miss' };
  }

  store(key: string, req: ChatRequest, answer: CachedAnswer): void {
    if (!this.#admitted.has(req) || !CACHEABLE.has(answer.completion.choices[0]?.finish_reason ?? '')) return;
    // A cache that cannot write is an optimization lost, never a failed answer.
    Promise.resolve(this.cache.set(key, answer)).catch((err) => this.#log.warn({ err }, 'the AI cache could not store an answer'));
  }
}
