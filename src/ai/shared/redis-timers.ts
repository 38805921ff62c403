import { once } from 'node:events';
import type { Redis } from 'ioredis';

/**
 * "Until" timestamps shared by every process on one Redis (key cooldowns, open breakers).
 * Reads are synchronous from a local mirror so the hot path never waits on Redis; writes go to
 * Redis (keeping the later deadline, each key expiring with it) and are published so every other
 * process updates its mirror at once. A process that starts late loads the live entries first.
 */

/** Keeps the later deadline; returns 1 when it changed. */
const EXTEND_LUA = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local untilMs = tonumber(ARGV[1])
if untilMs <= cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1])
redis.call('PUBLISH', KEYS[2], ARGV[2] .. '|' .. ARGV[1])
return 1
`;

/** Deletes the entry (e.g. a breaker closed again) and tells the others. */
const CLEAR_LUA = `
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', KEYS[2], ARGV[1] .. '|0')
return 1
`;

export interface RedisTimersOptions {
  /** Command connection (shared with the rest of the process). */
  redis: Redis;
  /** A connection in SUBSCRIBE mode (it can do nothing else); several RedisTimers may share one. Not closed here. */
  subscriber: Redis;
  /** Key prefix, e.g. `tasklane:ai:cool`. */
  prefix: string;
  onError?: (err: Error) => void;
  now?: () => number;
}

export class RedisTimers {
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #mirror = new Map<string, number>();
  readonly #now: () => number;
  readonly #onError: (err: Error) => void;
  #ready?: Promise<void>;
  #closed = false;

  constructor(options: RedisTimersOptions) {
    this.#redis = options.redis;
    this.#sub = options.subscriber;
    this.#prefix = options.prefix;
    this.#channel = `${options.prefix}:changes`;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => {});
    const r = this.#redis as unknown as Record<string, unknown>;
    if (!r.tlTimerExtend) this.#redis.defineCommand('tlTimerExtend', { numberOfKeys: 2, lua: EXTEND_LUA });
    if (!r.tlTimerClear) this.#redis.defineCommand('tlTimerClear', { numberOfKeys: 2, lua: CLEAR_LUA });
    this.#sub.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      const bar = message.lastIndexOf('|');
      const id = message.slice(0, bar);
      const until = Number(message.slice(bar + 1));
      if (until === 0) this.#mirror.delete(id);
      else this.#mergeLocal(id, until);
    });
    // After a reconnect the mirror may have missed messages: reload it (ioredis resubscribes itself).
    this.#sub.on('ready', () => {
      if (this.#ready && !this.#closed) this.#load().catch((err) => this.#onError(err as Error));
    });
  }

  /** Subscribes and loads the live entries. Safe to call more than once. */
  start(): Promise<void> {
    this.#ready ??= (async () => {
      if (this.#sub.status !== 'ready') await once(this.#sub, 'ready');
      await this.#sub.subscribe(this.#channel);
      await this.#load();
    })();
    return this.#ready;
  }

  async #load(): Promise<void> {
    let cursor = '0';
    const now = this.#now();
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', `${this.#prefix}:k:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length === 0) continue;
      const values = await this.#redis.mget(...keys);
      keys.forEach((key, i) => {
        const until = Number(values[i] ?? 0);
        if (until > now) this.#mergeLocal(key.slice(this.#prefix.length + 3), until);
      });
    } while (cursor !== '0');
  }

  #mergeLocal(id: string, until: number): void {
    const cur = this.#mirror.get(id) ?? 0;
    if (until > cur) this.#mirror.set(id, until);
  }

  /** The deadline for `id` if it is still in the future. */
  get(id: string): number | undefined {
    const until = this.#mirror.get(id);
    if (until === undefined) return undefined;
    if (until <= this.#now()) {
      this.#mirror.delete(id);
      return undefined;
    }
    return until;
  }

  /** Moves the deadline to `untilMs` unless a later one is already set (here or elsewhere). */
  async extend(id: string, untilMs: number): Promise<void> {
    this.#mergeLocal(id, untilMs);
    if (untilMs <= this.#now()) return;
    await (this.#redis as unknown as { tlTimerExtend(k1: string, k2: string, until: string, id: string): Promise<number> }).tlTimerExtend(
      `${this.#prefix}:k:${id}`,
      this.#channel,
      String(Math.ceil(untilMs)),
      id,
    );
  }

  /** Removes the deadline everywhere. */
  async clear(id: string): Promise<void> {
    this.#mirror.delete(id);
    await (this.#redis as unknown as { tlTimerClear(k1: string, k2: string, id: string): Promise<number> }).tlTimerClear(
      `${this.#prefix}:k:${id}`,
      this.#channel,
      id,
    );
  }

  /** Stops listening; the connections are closed by their owner. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sub.status === 'ready') await this.#sub.unsubscribe(this.#channel).catch(() => {});
  }
}
