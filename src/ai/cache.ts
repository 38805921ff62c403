import { LRUCache } from 'lru-cache';
import type { ChatCompletion } from './types.js';

/** A complete answer as stored: the completion and who served it. */
export interface CachedAnswer {
  completion: ChatCompletion;
  provider: string;
  model: string;
  keyIndex: number;
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
