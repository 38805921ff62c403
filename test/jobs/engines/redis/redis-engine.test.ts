import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisJobEngine } from '../../../../src/jobs/engines/redis/redis-engine.js';
import type { JobEvent } from '../../../../src/jobs/types.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../../../support/redis.js';

const prefix = testPrefix('rengine');
const engines: RedisJobEngine[] = [];
const errors: Error[] = [];

function engine(options: { leaseMs?: number } = {}) {
  const e = new RedisJobEngine({ url: REDIS_URL, prefix, leaseMs: options.leaseMs ?? 5_000, onError: (err) => errors.push(err) });
  engines.push(e);
  return e;
}
const M = { maxAttempts: 2 };
const take = (e: RedisJobEngine, workerId: string, tasks: string[], leaseMs = 5_000) => e.claim(workerId, { tasks, leaseMs });
/** Claims like a worker's poll: a job enqueued by another handle shows up within a few tries. */
async function poll(e: RedisJobEngine, workerId: string, tasks: string[]) {
  for (let i = 0; i < 40; i++) {
    const c = await take(e, workerId, tasks);
    if (c) return c;
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}
const ev = (jobId: string, seq: number, type: JobEvent['type'], data: unknown, attempt = 1): JobEvent => ({
  jobId,
  seq,
  type,
  data,
  at: Date.now(),
  attempt,
});

async function collect(it: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe('RedisJobEngine', () => {
  beforeAll(() => requireRedis());
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.close()));
    await deleteKeys(prefix);
  });
  afterAll(() => deleteKeys(prefix));

  it('enqueue → claim → progress → succeed, with an ordered event stream', async () => {
    const e = engine();
    await e.start();
    const job = await e.enqueue('t.a', { n: 1 }, M);
    expect(job).toMatchObject({ task: 't.a', state: 'queued', attempt: 0, maxAttempts: 2, lastSeq: 1, input: { n: 1 } });
    const claim = await take(e, 'w1', ['t.a']);
    expect(claim?.job).toMatchObject({ id: job.id, state: 'running', attempt: 1, workerId: 'w1' });
    expect(await e.renew(job.id, claim!.token, 5_000)).toEqual({ cancelRequested: false });
    await e.appendEvents(job.id, claim!.token, [ev(job.id, 3, 'progress', { step: 1 }), ev(job.id, 4, 'log', { msg: 'hi' })]);
    // A resent batch is refused whole: the stream never holds a seq twice.
    await expect(e.appendEvents(job.id, claim!.token, [ev(job.id, 4, 'log', { msg: 'hi' })])).rejects.toMatchObject({
      code: 'TL_ERR_JOB_STATE',
    });
    const done = await e.finish(job.id, claim!.token, { outcome: 'succeeded', result: { ok: 1 } });
    expect(done).toMatchObject({ state: 'succeeded', result: { ok: 1 }, progress: { step: 1 }, lastSeq: 5 });
    const events = await e.readEvents(job.id, 0);
    expect(events.map((x) => [x.seq, x.type])).toEqual([
      [1, 'enqueued'],
      [2, 'started'],
      [3, 'progress'],
      [4, 'log'],
      [5, 'succeeded'],
    ]);
    expect(await collect(await e.follow(job.id, 2))).toEqual(events.slice(2));
    expect(await collect(await e.follow(job.id, 5))).toEqual([]);
    expect(await take(e, 'w1', ['t.a'])).toBeUndefined();
  });

  it('refuses a finish or renew with a stale token after another worker took the job', async () => {
    const a = engine({ leaseMs: 600 });
    const b = engine({ leaseMs: 600 });
    await Promise.all([a.start(), b.start()]);
    const job = await a.enqueue('t.b', {}, { maxAttempts: 3 });
    const first = await take(a, 'A', ['t.b'], 600);
    // A stops renewing; its lease expires and recovery hands the job to B.
    let second;
    const deadline = Date.now() + 10_000;
    while (!second && Date.now() < deadline) {
      await b.recoverExpired();
      second = await take(b, 'B', ['t.b'], 600);
      if (!second) await new Promise((r) => setTimeout(r, 100));
    }
    expect(second?.job).toMatchObject({ id: job.id, attempt: 2, workerId: 'B' });
    await expect(a.finish(job.id, first!.token, { outcome: 'succeeded', result: 'stale' })).rejects.toMatchObject({
      code: 'TL_ERR_JOB_LEASE_LOST',
    });
    await expect(a.renew(job.id, first!.token, 600)).rejects.toMatchObject({ code: 'TL_ERR_JOB_LEASE_LOST' });
    await expect(a.appendEvents(job.id, first!.token, [ev(job.id, 9, 'progress', 1)])).rejects.toMatchObject({
      code: 'TL_ERR_JOB_LEASE_LOST',
    });
    const done = await b.finish(job.id, second!.token, { outcome: 'succeeded', result: 'fresh' });
    expect(done).toMatchObject({ state: 'succeeded', result: 'fresh', attempt: 2 });
    const types = (await a.readEvents(job.id, 0)).map((x) => x.type);
    expect(types).toEqual(['enqueued', 'started', 'retrying', 'started', 'succeeded']);
  });

  it('retries with a delay, then dies out of attempts; retry() revives it', async () => {
    const e = engine();
    await e.start();
    const job = await e.enqueue('t.c', {}, M);
    const c1 = await take(e, 'w', ['t.c']);
    const r1 = await e.finish(job.id, c1!.token, {
      outcome: 'retry',
      error: { code: 'TL_ERR_JOB_FAILED', message: 'x' },
      runAt: Date.now() + 300,
    });
    expect(r1.state).toBe('delayed');
    expect(await take(e, 'w', ['t.c'])).toBeUndefined();
    await new Promise((r) => setTimeout(r, 400));
    const c2 = await take(e, 'w', ['t.c']);
    expect(c2?.job.attempt).toBe(2);
    const r2 = await e.finish(job.id, c2!.token, { outcome: 'dead', error: { code: 'TL_ERR_JOB_FAILED', message: 'y' } });
    expect(r2).toMatchObject({ state: 'dead', error: { message: 'y' } });
    await expect(e.cancel(job.id)).rejects.toMatchObject({ code: 'TL_ERR_JOB_STATE' });
    const again = await e.retry(job.id);
    expect(again).toMatchObject({ state: 'queued', attempt: 0 });
    const c3 = await take(e, 'w', ['t.c']);
    expect(c3?.job.attempt).toBe(1);
  });

  it('cancels a queued job at once and a running one through its process', async () => {
    const api = engine();
    const w = engine();
    await Promise.all([api.start(), w.start()]);
    const queued = await api.enqueue('t.d', {}, M);
    expect((await api.cancel(queued.id)).state).toBe('cancelled');
    expect(await take(w, 'w', ['t.d', 't.e'])).toBeUndefined();
    const running = await api.enqueue('t.d', {}, M);
    const claim = await poll(w, 'w', ['t.d', 't.e']);
    const heard = new Promise<string>((resolve) => w.onCancelRequested(resolve));
    expect((await api.cancel(running.id)).state).toBe('running');
    expect(await heard).toBe(running.id);
    expect(await w.renew(running.id, claim!.token, 5_000)).toEqual({ cancelRequested: true });
    const end = await w.finish(running.id, claim!.token, { outcome: 'cancelled' });
    expect(end.state).toBe('cancelled');
    expect((await api.readEvents(running.id, 0)).map((x) => x.type)).toEqual(['enqueued', 'started', 'cancelled']);
  });

  it('lists by state and task, newest first, with a cursor; honours idempotency keys', async () => {
    const e = engine();
    await e.start();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await e.enqueue(i % 2 ? 'odd' : 'even', { i }, M)).id);
    const dup = await e.enqueue('even', { i: 99 }, { idempotencyKey: 'k1', maxAttempts: 2 });
    expect((await e.enqueue('even', { i: 100 }, { idempotencyKey: 'k1', maxAttempts: 2 })).id).toBe(dup.id);
    await e.cancel(ids[0]!);
    const page1 = await e.list({ limit: 3 });
    expect(page1.jobs.map((j) => j.id)).toEqual([dup.id, ids[6], ids[5]]);
    const page2 = await e.list({ limit: 3, cursor: page1.next });
    expect(page2.jobs.map((j) => j.id)).toEqual([ids[4], ids[3], ids[2]]);
    const page3 = await e.list({ limit: 3, cursor: page2.next });
    expect(page3.jobs.map((j) => j.id)).toEqual([ids[1], ids[0]]);
    expect(page3.next).toBeUndefined();
    expect((await e.list({ task: 'odd' })).jobs.map((j) => j.id)).toEqual([ids[5], ids[3], ids[1]]);
    expect((await e.list({ state: 'cancelled' })).jobs.map((j) => j.id)).toEqual([ids[0]]);
    expect((await e.list({ task: 'even', state: 'queued' })).jobs.map((j) => j.id)).toEqual([dup.id, ids[6], ids[4], ids[2]]);
  });

  it('a subscriber on one engine follows a job run by another, live', async () => {
    const api = engine();
    const w = engine();
    await Promise.all([api.start(), w.start()]);
    const job = await api.enqueue('t.e', {}, M);
    const followed = collect(await api.follow(job.id, 0));
    const claim = await poll(w, 'w', ['t.d', 't.e']);
    for (let i = 1; i <= 20; i++) await w.appendEvents(job.id, claim!.token, [ev(job.id, 2 + i, 'progress', { i })]);
    await w.finish(job.id, claim!.token, { outcome: 'succeeded', result: null });
    const events = await followed;
    expect(events.map((x) => x.seq)).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    expect(events.at(-1)?.type).toBe('succeeded');
  });
});
