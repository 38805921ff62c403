import { LRUCache } from 'lru-cache';
import { once } from 'node:events';
import type { Redis } from 'ioredis';

/**
 * "Until" timestamps shared by every process on one Redis (cooldowns, open breakers). Reads are
 * synchronous from a local mirror so the hot path never waits on Redis; writes go to Redis (keeping
 * the later deadline) and are published so every other process updates its mirror at once.
 *
 * The entries live in ONE sorted set per prefix (`<prefix>:reg`, score = deadline, member = id),
 * never in keys found by a SCAN: a process that starts late loads the live entries with one
 * ZRANGEBYSCORE, so its start-up cost depends on how many deadlines are live, not on how many
 * keys (jobs) the same Redis holds (issue #22). Each write drops the expired members, keeps the set
 * under `maxEntries` (the soonest to end go first) and lets the set expire with its last deadline.
 */

/** Keeps the later deadline; returns 1 when it changed. KEYS: reg, channel. ARGV: id, until, now, maxEntries. */
const EXTEND_LUA = `
local cur = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0')
local untilMs = tonumber(ARGV[2])
if untilMs <= cur then return 0 end
redis.call('ZADD', KEYS[1], untilMs, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if over > 0 then redis.call('ZPOPMIN', KEYS[1], over) end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2]))) end
redis.call('PUBLISH', KEYS[2], ARGV[1] .. '|' .. ARGV[2])
return 1
`;

/** Removes the entry (e.g. a breaker closed again) and tells the others. KEYS: reg, channel. ARGV: id. */
const CLEAR_LUA = `
redis.call('ZREM', KEYS[1], ARGV[1])
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
  /** Most live entries kept (in Redis and in the mirror); default 10,000. */
  maxEntries?: number;
}

export class RedisTimers {
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #mirror: LRUCache<string, number>;
  readonly #registry: string;
  readonly #max: number;
  /** Called when the mirror drops an entry to stay under maxEntries. */
  onEvict?: () => void;
  readonly #now: () => number;
  readonly #onError: (err: Error) => void;
  #ready?: Promise<void>;
  #closed = false;
  /** The first load is done: a later 'ready' is a reconnect that may have missed messages. */
  #loaded = false;

  constructor(options: RedisTimersOptions) {
    this.#redis = options.redis;
    this.#sub = options.subscriber;
    this.#prefix = options.prefix;
    this.#channel = `${options.prefix}:changes`;
    this.#registry = `${options.prefix}:reg`;
    this.#max = options.maxEntries ?? 10_000;
    this.#mirror = new LRUCache<string, number>({
      max: this.#max,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.onEvict?.();
      },
    });
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
      // Only a REconnect: the first 'ready' is start()'s own, which loads once itself.
      if (this.#loaded && !this.#closed) this.#load().catch((err) => this.#onError(err as Error));
    });
  }

  /** Subscribes and loads the live entries. Safe to call more than once. */
  start(): Promise<void> {
    this.#ready ??= (async () => {
      if (this.#sub.status !== 'ready') await once(this.#sub, 'ready');
      await this.#sub.subscribe(this.#channel);
      await this.#load();
      this.#loaded = true;
    })();
    return this.#ready;
  }

  async #load(): Promise<void> {
    const now = this.#now();
    // One read of the live entries, newest deadlines last; bounded by maxEntries.
    const flat = await this.#redis.zrangebyscore(this.#registry, `(${now}`, '+inf', 'WITHSCORES');
    for (let i = 0; i + 1 < flat.length; i += 2) this.#mergeLocal(flat[i]!, Number(flat[i + 1]));
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

  /** The live entries of the mirror (this process's view of the fleet's). */
  *entries(): Iterable<[string, number]> {
    const now = this.#now();
    for (const [id, until] of this.#mirror.entries()) if (until > now) yield [id, until];
  }

  /** Moves the deadline to `untilMs` unless a later one is already set (here or elsewhere). */
  async extend(id: string, untilMs: number): Promise<void> {
    this.#mergeLocal(id, untilMs);
    if (untilMs <= this.#now()) return;
    await (
      this.#redis as unknown as {
        tlTimerExtend(k1: string, k2: string, id: string, until: string, now: string, max: string): Promise<number>;
      }
    ).tlTimerExtend(this.#registry, this.#channel, id, String(Math.ceil(untilMs)), String(this.#now()), String(this.#max));
  }

  /** Removes the deadline everywhere. */
  async clear(id: string): Promise<void> {
    this.#mirror.delete(id);
    await (this.#redis as unknown as { tlTimerClear(k1: string, k2: string, id: string): Promise<number> }).tlTimerClear(
      this.#registry,
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
