import { LRUCache } from 'lru-cache';
import { usageChunk } from './stream-flight.js';
import type { AiCallOptions, ChatChunk, ChatCompletion, ChatRequest, ServedBy } from './types.js';

/** A complete answer as stored: the completion and who served it. */
export interface CachedAnswer extends ServedBy {
  completion: ChatCompletion;
  /** A streamed answer's chunks as they came (usage apart), replayed as they were. */
  chunks?: ChatChunk[];
}

/** `ai.cache.mode`. */
export type CacheMode = 'deterministic' | 'all';

/**
 * Whether a request may be answered from the cache and have its answer kept (DESIGN.md "Cache"):
 * never with `noCache` (`cache-control: no-cache`); always with `cacheable` or in mode 'all';
 * otherwise only a deterministic one, `temperature: 0` or a `seed`. A temperature of 1.2 asks
 * for a different answer each time, and a cache must not hand back the first one.
 */
export function cacheAdmits(req: ChatRequest, options: AiCallOptions, mode: CacheMode): boolean {
  if (options.noCache) return false;
  if (mode === 'all' || options.cacheable === true) return true;
  return req.temperature === 0 || typeof req.seed === 'number';
}

/** A cached streamed answer played back chunk by chunk as it first came, then usage when asked. */
export async function* replayChunks(
  answer: CachedAnswer & { chunks: ChatChunk[] },
  includeUsage: boolean,
): AsyncGenerator<ChatChunk, void, undefined> {
  for (const c of answer.chunks) yield c;
  if (includeUsage && answer.completion.usage) yield usageChunk(answer.chunks[0], answer.completion.usage);
}

/**
 * Where complete answers are kept. Only finished, successful answers are ever stored: never an
 * error, never a truncated stream. A shared backend (Redis) may answer asynchronously.
 */
export interface ResponseCache {
  get(key: string): CachedAnswer | undefined | Promise<CachedAnswer | undefined>;
  set(key: string, answer: CachedAnswer): void | Promise<void>;
  clear(): void | Promise<void>;
}

/** The default cache: an LRU in this process, bounded in entries, each entry living `ttlMs`. */
export class MemoryResponseCache implements ResponseCache {
  readonly #lru: LRUCache<string, CachedAnswer>;

  constructor(options: { maxEntries: number; ttlMs: number }) {
    this.#lru = new LRUCache({ max: options.maxEntries, ttl: options.ttlMs, ttlAutopurge: false });
  }

  get(key: string): CachedAnswer | undefined {
    return this.#lru.get(key);
  }

  set(key: string, answer: CachedAnswer): void {
    this.#lru.set(key, answer);
  }

  clear(): void {
    this.#lru.clear();
  }

  get size(): number {
    return this.#lru.size;
  }
}
