import type { Redis } from 'ioredis';

/**
 * The AI response cache in Redis, so every process of a fleet answers a repeated request from
 * one cache. Values are JSON with a TTL in ms; Redis evicts expired entries itself. A Redis
 * failure is a miss (and a skipped write), never a failed AI call: the cache is an optimization.
 */
export class RedisResponseCache<V = unknown> {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #onError: (err: Error) => void;

  constructor(options: { redis: Redis; prefix: string; ttlMs: number; onError?: (err: Error) => void }) {
    this.#redis = options.redis;
    this.#prefix = options.prefix;
    this.#ttlMs = options.ttlMs;
    this.#onError = options.onError ?? (() => {});
  }

  #key(key: string): string {
    return `${this.#prefix}:${key}`;
  }

  async get(key: string): Promise<V | undefined> {
    try {
      const raw = await this.#redis.get(this.#key(key));
      return raw === null ? undefined : (JSON.parse(raw) as V);
    } catch (err) {
      this.#onError(err as Error);
      return undefined;
    }
  }

  async set(key: string, value: V, ttlMs = this.#ttlMs): Promise<void> {
    try {
      await this.#redis.set(this.#key(key), JSON.stringify(value), 'PX', Math.max(1, Math.round(ttlMs)));
    } catch (err) {
      this.#onError(err as Error);
    }
  }

  /** Drops every entry under this cache's prefix (SCAN + UNLINK, never a blocking KEYS). */
  async clear(): Promise<void> {
    try {
      let cursor = '0';
      do {
        const [next, keys] = await this.#redis.scan(cursor, 'MATCH', `${this.#prefix}:*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await this.#redis.unlink(...keys);
      } while (cursor !== '0');
    } catch (err) {
      this.#onError(err as Error);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#redis.del(this.#key(key));
    } catch (err) {
      this.#onError(err as Error);
    }
  }
}
