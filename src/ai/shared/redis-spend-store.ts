import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { collect, jobCostOf } from '../spend/sqlite-spend-store.js';
import {
  MINUTE_MS,
  periodsOf,
  type JobCost,
  type Reservation,
  type SpendCharge,
  type SpendRow,
  type SpendStore,
} from '../spend/spend-store.js';

const lua = (name: string): string => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
const RESERVE = lua('reserve-tokens');
const SETTLE = lua('settle-tokens');

/** How long figures are kept: a day's for 40 days, a month's for 400, a job's cost for 35 days. */
interface Scripts {
  tlReserveTokens(key: string, tokens: number, limit: number, ttlMs: number): Promise<unknown>;
  tlSettleTokens(key: string, delta: number): Promise<unknown>;
}

const DAY_TTL_S = 40 * 86_400;
const MONTH_TTL_S = 400 * 86_400;
const JOB_TTL_S = 35 * 86_400;

/**
 * Spend on Redis, one total for the fleet: a hash per UTC day and month with `usd|`, `tok|` and
 * `req|` fields per subject (HINCRBYFLOAT is atomic, so two servers never lose an add), a hash
 * per job, and token windows changed by the Lua scripts in lua/ (a check and a reservation in
 * one step, so concurrent calls on any server never pass the limit together).
 */
export class RedisSpendStore implements SpendStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
    // EVALSHA after the first call (ioredis loads the script on NOSCRIPT).
    if (!('tlReserveTokens' in redis)) {
      redis.defineCommand('tlReserveTokens', { numberOfKeys: 1, lua: RESERVE });
      redis.defineCommand('tlSettleTokens', { numberOfKeys: 1, lua: SETTLE });
    }
  }

  async charge(c: SpendCharge): Promise<void> {
    const { day, month } = periodsOf(c.at);
    const subjects = [`provider:${c.provider}`];
    if (c.key !== undefined) subjects.push(`key:${c.key}`);
    if (c.tenant !== undefined) subjects.push(`tenant:${c.tenant}`);
    const m = this.#redis.multi();
    for (const [period, ttl] of [
      [day, DAY_TTL_S],
      [month, MONTH_TTL_S],
    ] as const) {
      const h = `${this.#prefix}:${period}`;
      for (const s of subjects) {
        m.hincrbyfloat(h, `usd|${s}`, c.usd);
        m.hincrby(h, `tok|${s}`, c.tokens);
        m.hincrby(h, `req|${s}`, 1);
      }
      m.expire(h, ttl);
    }
    if (c.job) {
      const h = `${this.#prefix}:job:${c.job.id}`;
      m.hincrbyfloat(h, '', c.usd);
      if (c.job.step !== undefined) m.hincrbyfloat(h, c.job.step, c.usd);
      m.expire(h, JOB_TTL_S);
    }
    await m.exec();
  }

  async spent(scope: 'key' | 'tenant', name: string, at: number): Promise<{ day: number; month: number }> {
    const { day, month } = periodsOf(at);
    const field = `usd|${scope}:${name}`;
    const [d, mo] = await Promise.all([
      this.#redis.hget(`${this.#prefix}:${day}`, field),
      this.#redis.hget(`${this.#prefix}:${month}`, field),
    ]);
    return { day: Number(d ?? 0), month: Number(mo ?? 0) };
  }

  async report(at: number): Promise<SpendRow[]> {
    const { day, month } = periodsOf(at);
    const [d, mo] = await Promise.all([this.#redis.hgetall(`${this.#prefix}:${day}`), this.#redis.hgetall(`${this.#prefix}:${month}`)]);
    const rows: Array<{ subject: string; isDay: boolean; usd: number; tokens: number; requests: number }> = [];
    for (const [hash, isDay] of [
      [d, true],
      [mo, false],
    ] as const) {
      for (const [field, value] of Object.entries(hash)) {
        if (!field.startsWith('usd|')) continue;
        const subject = field.slice(4);
        rows.push({
          subject,
          isDay,
          usd: Number(value),
          tokens: Number(hash[`tok|${subject}`] ?? 0),
          requests: Number(hash[`req|${subject}`] ?? 0),
        });
      }
    }
    return collect(rows);
  }

  async jobCost(jobId: string): Promise<JobCost | undefined> {
    const h = await this.#redis.hgetall(`${this.#prefix}:job:${jobId}`);
    return jobCostOf(Object.entries(h).map(([step, usd]) => ({ step, usd: Number(usd) })));
  }

  async reserveTokens(key: string, tokens: number, limit: number, at: number): Promise<Reservation> {
    const window = Math.floor(at / MINUTE_MS);
    const [ok, used] = (await this.#scripts.tlReserveTokens(this.#window(key, window), tokens, limit, 2 * MINUTE_MS)) as [number, number];
    return ok === 1 ? { ok: true, window } : { ok: false, retryAfterMs: (window + 1) * MINUTE_MS - at, used };
  }

  async settleTokens(key: string, window: number, reserved: number, used: number): Promise<void> {
    if (used === reserved) return;
    await this.#scripts.tlSettleTokens(this.#window(key, window), used - reserved);
  }

  async close(): Promise<void> {
    // The connection belongs to the shared AI state, which closes it.
  }

  get #scripts(): Scripts {
    return this.#redis as unknown as Scripts;
  }

  #window(key: string, window: number): string {
    return `${this.#prefix}:tpm:${key}:${window}`;
  }
}
