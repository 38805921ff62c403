/**
 * The Redis engine's workflow side beyond the shared contract (test/engines/conformance-workflows.ts):
 * a parked job leaves BullMQ (no lock, no BullMQ job) and is handed to BullMQ again by whatever
 * wakes it, whichever handle that is; a wake whose hand-over to BullMQ was lost (a crash between
 * the two writes) is found by recovery; retention deletes every workflow key of a job.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisJobEngine } from '../../../../src/jobs/engines/redis/redis-engine.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../../../support/redis.js';

const prefix = testPrefix('rwf');
const engines: RedisJobEngine[] = [];
let raw: Redis;

async function engine(): Promise<RedisJobEngine> {
  const e = new RedisJobEngine({ url: REDIS_URL, prefix, leaseMs: 5_000, recoverEveryMs: 250, onError: () => {} });
  engines.push(e);
  await e.start();
  return e;
}
const take = (e: RedisJobEngine, tasks: string[]) => e.claim('w1', { tasks, leaseMs: 5_000 });
async function poll(e: RedisJobEngine, tasks: string[]) {
  for (let i = 0; i < 50; i++) {
    const c = await take(e, tasks);
    if (c) return c;
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}

describe('Redis engine workflows', () => {
  beforeAll(async () => {
    await requireRedis();
    raw = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.close()));
    await deleteKeys(prefix);
  });
  afterAll(async () => {
    await deleteKeys(prefix);
    raw.disconnect();
  });

  it('a parked job leaves BullMQ; a signal from another handle hands it back, and a third handle claims it', async () => {
    const a = await engine();
    const job = await a.enqueue('t', null, { maxAttempts: 1 });
    const c = (await take(a, ['t']))!;
    expect(await raw.exists(a.keys.lock('t', job.id))).toBe(1);
    await a.park(job.id, c.token, { kind: 'signal', name: 'go' });
    // No lock, no BullMQ job: nothing holds a slot or can hand the job out while it waits.
    expect(await raw.exists(a.keys.lock('t', job.id), a.keys.bullJob('t', job.id))).toBe(0);
    expect(await take(a, ['t'])).toBeUndefined();
    const b = await engine();
    expect((await b.signal(job.id, 'go', { ok: true })).state).toBe('queued');
    expect(await raw.exists(a.keys.bullJob('t', job.id))).toBe(1);
    const third = await engine();
    const c2 = (await poll(third, ['t']))!;
    expect(c2.job).toMatchObject({ id: job.id, attempt: 1, state: 'running' });
    expect(await third.takeSignal(job.id, c2.token, 'go', { key: 'signal:go#0', pos: 0, startedAt: 0 })).toEqual({ payload: { ok: true } });
  });

  it('a child finishing on one handle hands its woken parent to BullMQ for any other handle to claim', async () => {
    const a = await engine();
    const parent = await a.enqueue('p', null, { maxAttempts: 1 });
    const pc = (await take(a, ['p']))!;
    const kid = await a.enqueue('c', null, { maxAttempts: 1, parentId: parent.id, idempotencyKey: `${parent.id}:spawn#0` });
    await a.park(parent.id, pc.token, { kind: 'children', ids: [kid.id] });
    const b = await engine();
    const kc = (await poll(b, ['c']))!;
    await b.finish(kid.id, kc.token, { outcome: 'succeeded', result: 7 });
    const again = (await poll(a, ['p']))!;
    expect(again.job.id).toBe(parent.id);
    expect(await a.children(parent.id)).toEqual([{ id: kid.id, task: 'c', state: 'succeeded', result: 7 }]);
  });

  it('a wake whose hand-over to BullMQ was lost is dispatched again by the recovery sweep', async () => {
    const a = await engine();
    const job = await a.enqueue('t', null, { maxAttempts: 1 });
    const c = (await take(a, ['t']))!;
    await a.park(job.id, c.token, { kind: 'sleep', until: Date.now() + 30 });
    await new Promise((r) => setTimeout(r, 50));
    expect(await a.wakeDue()).toBe(1);
    // As if the process died between the wake script and BullMQ's add: the record is queued, BullMQ has nothing.
    await a.close();
    await raw.del(a.keys.bullJob('t', job.id));
    await raw.zrem(`${prefix}:q.t:prioritized`, job.id);
    await raw.hset(a.keys.job(job.id), 'updatedAt', Date.now() - 60_000);
    const b = await engine();
    expect(await take(b, ['t'])).toBeUndefined();
    expect(await b.recoverExpired()).toBe(1);
    expect((await poll(b, ['t']))?.job.id).toBe(job.id);
  });

  it('retention deletes the journal, kept signals and list of children with the job', async () => {
    const a = await engine();
    const parent = await a.enqueue('p', null, { maxAttempts: 1 });
    const pc = (await take(a, ['p']))!;
    await a.writeJournal(parent.id, pc.token, [{ key: 'step:a#0', pos: 0, status: 'completed', result: 1, startedAt: 1, endedAt: 2 }]);
    await a.signal(parent.id, 'unused', 1);
    const kid = await a.enqueue('c', null, { maxAttempts: 1, parentId: parent.id, idempotencyKey: `${parent.id}:spawn#0` });
    await a.finish(parent.id, pc.token, { outcome: 'succeeded', result: null });
    await a.cancel(kid.id);
    const keysOf = async (id: string) => (await raw.keys(`${prefix}:*${id}*`)).filter((k) => !k.includes(':idem:'));
    expect((await keysOf(parent.id)).length).toBeGreaterThan(2);
    expect(await a.prune({ succeededBefore: Date.now() + 1, failedBefore: Date.now() + 1 }, 10)).toBe(2);
    expect(await keysOf(parent.id)).toEqual([]);
    expect(await keysOf(kid.id)).toEqual([]);
  });
});
