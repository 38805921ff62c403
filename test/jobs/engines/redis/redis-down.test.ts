import { afterEach, describe, expect, it } from 'vitest';
import { RedisJobEngine } from '../../../../src/jobs/engines/redis/redis-engine.js';
import { spawnRedis, type OwnRedis } from '../../../support/redis.js';

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('RedisJobEngine when Redis goes away', () => {
  let redis: OwnRedis | undefined;
  afterEach(async () => {
    await redis?.kill();
  });

  it('reports not ready while Redis is down, recovers when it is back, and close() stays bounded', async () => {
    redis = await spawnRedis();
    const e = new RedisJobEngine({ url: redis.url, prefix: 'down', leaseMs: 2_000, onError: () => {} });
    await e.start();
    expect(e.ready()).toBe(true);
    const job = await e.enqueue('t', {}, { maxAttempts: 2 });
    const claim = await e.claim('w', { tasks: ['t'], leaseMs: 2_000 });
    expect(claim?.job.id).toBe(job.id);
    // A follower that is open when Redis goes away; close() must end it with a store error.
    const stream = await e.follow(job.id, 0);
    const followed: Promise<void> = (async () => {
      for await (const _ of stream) {
        // drain until close ends it
      }
    })();
    const ended = expect(followed).rejects.toMatchObject({ code: 'TL_ERR_STORE_UNAVAILABLE' });
    await redis.kill();
    await until(() => e.ready() !== true, 5_000);
    expect(String(e.ready())).toMatch(/redis not connected/);
    // An API call fails with a store error instead of hanging.
    const t0 = Date.now();
    await expect(e.enqueue('t', {}, { maxAttempts: 2 })).rejects.toMatchObject({ code: 'TL_ERR_STORE_UNAVAILABLE' });
    expect(Date.now() - t0).toBeLessThan(5_000);
    await redis.restart();
    await until(() => e.ready() === true, 10_000);
    expect((await e.enqueue('t', {}, { maxAttempts: 2 })).state).toBe('queued');
    // Down again, then close: every connection is let go within the bound.
    await redis.kill();
    await until(() => e.ready() !== true, 5_000);
    const c0 = Date.now();
    await e.close();
    expect(Date.now() - c0).toBeLessThan(8_000);
    await ended;
  }, 40_000);
});
