/** Redis engine: per-owner job counts (a key's, a tenant's) from counter hashes, not from reading jobs. */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisJobEngine } from '../../../../src/jobs/engines/redis/redis-engine.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../../../support/redis.js';

const prefix = testPrefix('rcounts');
const engines: RedisJobEngine[] = [];

function engine() {
  const e = new RedisJobEngine({ url: REDIS_URL, prefix, leaseMs: 5_000, onError: () => {} });
  engines.push(e);
  return e;
}

describe('Redis owner counts', () => {
  beforeAll(() => requireRedis());
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.close()));
    await deleteKeys(prefix);
  });
  afterAll(() => deleteKeys(prefix));

  it('counts one key or one tenant per state and task, built from the index once, then kept by every move and by retention', async () => {
    const e = engine();
    const alice = { key: 'alice', tenant: 'acme' };
    const bob = { key: 'bob', tenant: 'acme' };
    // Jobs stored before anyone asked: the first count walks the owner's index.
    const a1 = await e.enqueue('a', 1, { maxAttempts: 1, owner: alice });
    await e.enqueue('b', 2, { maxAttempts: 1, owner: alice });
    await e.enqueue('a', 3, { maxAttempts: 1, owner: bob });
    await e.enqueue('a', 4, { maxAttempts: 1 });
    expect(await e.counts(['a', 'b'], { key: 'alice' })).toMatchObject({
      states: { queued: 2, running: 0, succeeded: 0 },
      tasks: { a: { queued: 1 }, b: { queued: 1 } },
    });
    expect((await e.counts([], { tenant: 'acme' }))!.states.queued).toBe(3);
    // Both at once is not a filter the counters answer.
    expect(await e.counts([], { key: 'alice', tenant: 'acme' })).toBeUndefined();

    // From now on each move is counted where it happens.
    let claim;
    for (let i = 0; i < 50 && claim?.job.id !== a1.id; i++) {
      if (claim) await e.release(claim.job.id, claim.token);
      claim = await e.claim('w', { tasks: ['a'], leaseMs: 5_000 });
    }
    expect(claim?.job.id).toBe(a1.id);
    expect((await e.counts(['a'], { key: 'alice' }))!.tasks.a).toEqual({ running: 1 });
    await e.finish(a1.id, claim!.token, { outcome: 'succeeded', result: null });
    await e.enqueue('a', 5, { maxAttempts: 1, owner: alice });
    const after = (await e.counts(['a', 'b'], { key: 'alice' }))!;
    expect(after.states).toMatchObject({ queued: 2, running: 0, succeeded: 1 });
    expect(after.tasks).toEqual({ a: { queued: 1, succeeded: 1 }, b: { queued: 1 } });
    expect((await e.counts([], { tenant: 'acme' }))!.states).toMatchObject({ queued: 3, succeeded: 1 });

    // Retention takes the ended job out of the counts too.
    expect(await e.prune({ succeededBefore: Date.now() + 1, failedBefore: 0 }, 10)).toBe(1);
    expect((await e.counts([], { key: 'alice' }))!.states).toMatchObject({ queued: 2, succeeded: 0 });
    expect((await e.counts([], { tenant: 'acme' }))!.states).toMatchObject({ queued: 3, succeeded: 0 });

    // The counts match the owner's list, job by job.
    const listed = (await e.list({ owner: { key: 'alice' }, limit: 100 })).jobs;
    expect(listed.filter((j) => j.state === 'queued')).toHaveLength(2);

    // A task the owner has no jobs of (or none in that state) answers an empty page from the counters.
    expect((await e.list({ owner: { key: 'alice' }, task: 'none' })).jobs).toEqual([]);
    expect((await e.list({ owner: { key: 'alice' }, task: 'b', state: 'dead' })).jobs).toEqual([]);
    expect((await e.list({ owner: { key: 'alice' }, task: 'b' })).jobs.map((j) => j.input)).toEqual([2]);
    expect((await e.list({ owner: { tenant: 'acme' }, task: 'a', state: 'queued' })).jobs.map((j) => j.input).sort()).toEqual([3, 5]);

    // One hash per owner, read in one call: no job record is read for a count.
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.hget(`${prefix}:cnt:o:alice`, '_')).toBe('1');
    } finally {
      await redis.quit();
    }
  });
});
