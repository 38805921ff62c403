/** One contract for both spend stores: SQLite (a real file) and Redis (the shared one, own prefix). */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSpendStore } from '../../../src/ai/shared/redis-spend-store.js';
import { SqliteSpendStore } from '../../../src/ai/spend/sqlite-spend-store.js';
import { periodsOf, resetsOf, type SpendStore } from '../../../src/ai/spend/spend-store.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../../support/redis.js';
import { tempDir } from '../../support/runtime.js';

const tmp = tempDir();
const prefix = testPrefix('spend-store');
let redis: Redis;

beforeAll(async () => {
  await requireRedis();
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  await deleteKeys(prefix);
  redis.disconnect();
  tmp.remove();
});

const AT = Date.UTC(2026, 11, 31, 23, 59, 30);
let n = 0;
const stores: Record<string, () => SpendStore> = {
  sqlite: () => new SqliteSpendStore(join(tmp.dir, `spend-${n++}.db`)),
  redis: () => new RedisSpendStore(redis, `${prefix}:${n++}`),
};

describe('UTC periods', () => {
  it('names the day and month of an instant and when each resets', () => {
    expect(periodsOf(AT)).toEqual({ day: '2026-12-31', month: '2026-12' });
    expect(resetsOf(AT)).toEqual({ day: Date.UTC(2027, 0, 1), month: Date.UTC(2027, 0, 1) });
  });
});

for (const [name, make] of Object.entries(stores)) {
  describe(`${name} spend store`, () => {
    it('adds charges per key, tenant and provider by day and month, and per job and step', async () => {
      const s = make();
      await s.charge({ at: AT, key: 'alice', tenant: 'acme', provider: 'a', usd: 0.25, tokens: 10, job: { id: 'j1', step: 'draft' } });
      await s.charge({ at: AT, key: 'alice', provider: 'b', usd: 0.5, tokens: 20, job: { id: 'j1' } });
      // The next UTC day (and month): a fresh period.
      await s.charge({ at: AT + 60_000, key: 'alice', provider: 'a', usd: 1, tokens: 5 });
      expect(await s.spent('key', 'alice', AT)).toEqual({ day: 0.75, month: 0.75 });
      expect(await s.spent('key', 'alice', AT + 60_000)).toEqual({ day: 1, month: 1 });
      expect(await s.spent('tenant', 'acme', AT)).toEqual({ day: 0.25, month: 0.25 });
      expect(await s.spent('key', 'nobody', AT)).toEqual({ day: 0, month: 0 });
      const rows = await s.report(AT);
      expect(rows.find((r) => r.scope === 'key' && r.name === 'alice')).toEqual({
        scope: 'key',
        name: 'alice',
        day: { usd: 0.75, tokens: 30, requests: 2 },
        month: { usd: 0.75, tokens: 30, requests: 2 },
      });
      expect(rows.filter((r) => r.scope === 'provider').map((r) => [r.name, r.month.usd])).toEqual([
        ['b', 0.5],
        ['a', 0.25],
      ]);
      expect(await s.jobCost('j1')).toEqual({ usd: 0.75, steps: { draft: 0.25 } });
      expect(await s.jobCost('none')).toBeUndefined();
      await s.close();
    });

    it('reserves tokens atomically: concurrent reservations never pass the limit together; settling gives back the rest', async () => {
      const s = make();
      const now = Date.UTC(2026, 5, 1, 12, 0, 10);
      const all = await Promise.all(Array.from({ length: 20 }, () => s.reserveTokens('erin', 100, 1_000, now)));
      const ok = all.filter((r) => r.ok);
      expect(ok).toHaveLength(10);
      const refused = all.find((r) => !r.ok);
      expect(refused).toMatchObject({ ok: false, retryAfterMs: 50_000, used: 1_000 });
      // Ten answers used 10 tokens each: 900 back.
      for (const r of ok) await s.settleTokens('erin', (r as { window: number }).window, 100, 10);
      expect((await s.reserveTokens('erin', 800, 1_000, now)).ok).toBe(true);
      expect((await s.reserveTokens('erin', 200, 1_000, now)).ok).toBe(false);
      // Alone in an empty window, a reservation larger than the limit still runs (once).
      expect((await s.reserveTokens('big', 5_000, 1_000, now)).ok).toBe(true);
      expect((await s.reserveTokens('big', 1, 1_000, now)).ok).toBe(false);
      // The next minute is a new window.
      expect((await s.reserveTokens('erin', 1_000, 1_000, now + 60_000)).ok).toBe(true);
      await s.close();
    });
  });
}

describe('sqlite spend store', () => {
  it('groups writes into one transaction per loop turn, reads see what is pending, and close() writes it', async () => {
    const path = join(tmp.dir, 'grouped.db');
    const s = new SqliteSpendStore(path);
    for (let i = 0; i < 50; i++) await s.charge({ at: AT, key: 'k', provider: 'p', usd: 0.01, tokens: 1 });
    expect((await s.spent('key', 'k', AT)).day).toBeCloseTo(0.5, 12);
    await s.close();
    const again = new SqliteSpendStore(path);
    expect((await again.spent('key', 'k', AT)).day).toBeCloseTo(0.5, 12);
    expect((await again.report(AT)).find((r) => r.name === 'k')?.day.requests).toBe(50);
    await again.close();
  });
});
