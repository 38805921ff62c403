/**
 * One contract suite for every job engine (src/jobs/engine.ts). Each engine's test file calls
 * `engineConformance(factory)`; the factory opens a fresh, empty store and can open a second
 * handle on the same store (another process's view: its own connection).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobEngine } from '../../src/jobs/engine.js';
import type { JobEvent } from '../../src/jobs/types.js';

export interface EngineFactory {
  name: string;
  /** A fresh empty store and a first handle on it. */
  open(): Promise<{ engine: JobEngine; another(): Promise<JobEngine>; destroy(): Promise<void> }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sweeps until the job has left `running`; returns how many jobs the sweeps recovered. An engine may
 * also recover on its own (Redis: BullMQ's stalled checker), so under load the sweep can find the job
 * already recovered: callers assert the job's resulting state and events exactly, and at most one recovery.
 */
export async function sweepUntilRecovered(e: JobEngine, id: string, withinMs = 20_000): Promise<number> {
  const until = Date.now() + withinMs;
  let recovered = 0;
  while ((await e.get(id))!.state === 'running') {
    if (Date.now() > until) throw new Error(`job ${id} still running ${withinMs} ms after its lease`);
    recovered += await e.recoverExpired();
    await sleep(25);
  }
  return recovered;
}

/**
 * A fresh store for each test of the calling describe(): its first handle goes to `use` and is
 * started; `another()` opens a second process's view; every handle is closed after the test.
 * `adopt(e)` makes a handle from another() the one closed last in place of the first (a test that
 * closed the first one itself).
 */
export function storePerTest(factory: EngineFactory, use: (engine: JobEngine) => void) {
  let store: Awaited<ReturnType<EngineFactory['open']>>;
  let last: JobEngine;
  const extra: JobEngine[] = [];
  beforeEach(async () => {
    store = await factory.open();
    last = store.engine;
    use(last);
    await last.start();
  });
  afterEach(async () => {
    for (const e of extra.splice(0)) await e.close();
    await last.close();
    await store.destroy();
  });
  return {
    another: async (): Promise<JobEngine> => {
      const e = await store.another();
      extra.push(e);
      return e;
    },
    adopt: (e: JobEngine): void => {
      extra.splice(extra.indexOf(e), 1);
      last = e;
    },
  };
}

export function engineConformance(factory: EngineFactory): void {
  describe(`job engine conformance: ${factory.name}`, () => {
    let engine!: JobEngine;
    const { another } = storePerTest(factory, (e) => (engine = e));
    const claimOne = (e: JobEngine, tasks = ['t'], leaseMs = 10_000) => e.claim('w1', { tasks, leaseMs });
    const types = (events: JobEvent[]) => events.map((e) => e.type);

    it('enqueues a queued job with an enqueued event at seq 1', async () => {
      const job = await engine.enqueue('t', { a: 1 }, { maxAttempts: 3 });
      expect(job).toMatchObject({ task: 't', state: 'queued', input: { a: 1 }, attempt: 0, maxAttempts: 3, priority: 0, lastSeq: 1 });
      expect(await engine.get(job.id)).toMatchObject({ id: job.id, state: 'queued' });
      const events = await engine.readEvents(job.id, 0);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ jobId: job.id, seq: 1, type: 'enqueued' });
      expect(await engine.get('no-such-job')).toBeUndefined();
    });

    it('returns the same job for the same idempotency key', async () => {
      const a = await engine.enqueue('t', { n: 1 }, { maxAttempts: 1, idempotencyKey: 'k1' });
      const b = await engine.enqueue('t', { n: 2 }, { maxAttempts: 1, idempotencyKey: 'k1' });
      const c = await engine.enqueue('t', { n: 3 }, { maxAttempts: 1, idempotencyKey: 'k2' });
      expect(b.id).toBe(a.id);
      expect(b.input).toEqual({ n: 1 });
      expect(c.id).not.toBe(a.id);
      expect((await engine.list()).jobs).toHaveLength(2);
    });

    it('claims by priority, then FIFO, only among the given tasks', async () => {
      const low = await engine.enqueue('t', 1, { maxAttempts: 1 });
      const high = await engine.enqueue('t', 2, { maxAttempts: 1, priority: 5 });
      const low2 = await engine.enqueue('t', 3, { maxAttempts: 1 });
      const other = await engine.enqueue('u', 4, { maxAttempts: 1, priority: 9 });
      const got: string[] = [];
      for (let i = 0; i < 3; i++) got.push((await claimOne(engine))!.job.id);
      expect(got).toEqual([high.id, low.id, low2.id]);
      expect(await claimOne(engine)).toBeUndefined();
      expect(await engine.claim('w1', { tasks: [], leaseMs: 1000 })).toBeUndefined();
      const u = await claimOne(engine, ['u', 't']);
      expect(u!.job.id).toBe(other.id);
    });

    it('claim starts an attempt: running, attempt 1, started event, a token', async () => {
      const job = await engine.enqueue('t', null, { maxAttempts: 2 });
      const claim = (await claimOne(engine))!;
      expect(claim.token).toBeTruthy();
      expect(claim.job).toMatchObject({ id: job.id, state: 'running', attempt: 1, lastSeq: 2, workerId: 'w1' });
      const events = await engine.readEvents(job.id, 1);
      expect(events).toMatchObject([{ seq: 2, type: 'started', attempt: 1, data: { attempt: 1, workerId: 'w1' } }]);
    });

    it('keeps a delayed job until its time', async () => {
      const job = await engine.enqueue('t', null, { maxAttempts: 1, delayMs: 300 });
      expect(job.state).toBe('delayed');
      expect(await claimOne(engine)).toBeUndefined();
      await sleep(350);
      expect((await claimOne(engine))?.job.id).toBe(job.id);
    });

    it('never hands one job to two claimers, across handles', async () => {
      const other = await another();
      for (let i = 0; i < 30; i++) await engine.enqueue('t', i, { maxAttempts: 1 });
      const ids: string[] = [];
      const drain = async (e: JobEngine) => {
        for (;;) {
          const c = await claimOne(e);
          if (!c) return;
          ids.push(c.job.id);
        }
      };
      await Promise.all([drain(engine), drain(other), drain(engine), drain(other)]);
      expect(ids).toHaveLength(30);
      expect(new Set(ids).size).toBe(30);
    });

    it('finishes with the token; a stale token is refused', async () => {
      const job = await engine.enqueue('t', null, { maxAttempts: 3 });
      const claim = (await claimOne(engine))!;
      const done = await engine.finish(job.id, claim.token, { outcome: 'succeeded', result: { ok: true } });
      expect(done).toMatchObject({ state: 'succeeded', result: { ok: true }, lastSeq: 3 });
      expect(done.finishedAt).toBeGreaterThan(0);
      await expect(engine.finish(job.id, claim.token, { outcome: 'succeeded', result: 2 })).rejects.toMatchObject({
        code: 'TL_ERR_JOB_LEASE_LOST',
      });
      await expect(engine.renew(job.id, claim.token, 1000)).rejects.toMatchObject({ code: 'TL_ERR_JOB_LEASE_LOST' });
      await expect(engine.finish('missing', 'x', { outcome: 'succeeded', result: 1 })).rejects.toMatchObject({
        code: 'TL_ERR_JOB_NOT_FOUND',
      });
      const events = await engine.readEvents(job.id, 0);
      expect(types(events)).toEqual(['enqueued', 'started', 'succeeded']);
      expect(events[2]!.data).toEqual({ result: { ok: true } });
    });

    it('retries at runAt, then dies on the last attempt', async () => {
      const job = await engine.enqueue('t', null, { maxAttempts: 2 });
      const c1 = (await claimOne(engine))!;
      const err = { code: 'TL_ERR_JOB_FAILED', message: 'boom' };
      const r = await engine.finish(job.id, c1.token, { outcome: 'retry', error: err, runAt: Date.now() + 250 });
      expect(r).toMatchObject({ state: 'delayed', error: err, attempt: 1 });
      expect(await claimOne(engine)).toBeUndefined();
      await sleep(300);
      const c2 = (await claimOne(engine))!;
      expect(c2.job.attempt).toBe(2);
      const dead = await engine.finish(job.id, c2.token, { outcome: 'dead', error: err });
      expect(dead).toMatchObject({ state: 'dead', error: err, attempt: 2 });
      expect(types(await engine.readEvents(job.id, 0))).toEqual(['enqueued', 'started', 'retrying', 'started', 'dead']);
      // By hand: back to the queue with attempts reset.
      const again = await engine.retry(job.id);
      expect(again).toMatchObject({ state: 'queued', attempt: 0 });
      expect(again.error).toBeUndefined();
      expect((await engine.readEvents(job.id, dead.lastSeq))[0]).toMatchObject({ type: 'enqueued', data: { retry: true, from: 'dead' } });
      expect((await claimOne(engine))!.job.attempt).toBe(1);
      await expect(engine.retry(job.id)).rejects.toMatchObject({ code: 'TL_ERR_JOB_STATE' });
      await expect(engine.retry('missing')).rejects.toMatchObject({ code: 'TL_ERR_JOB_NOT_FOUND' });
    });

    it('recovers an expired lease: the attempt counts, the old token is refused', async () => {
      const other = await another();
      const job = await engine.enqueue('t', null, { maxAttempts: 2 });
      // Long enough that a loaded scheduler cannot expire it before the first sweep below.
      const leaseMs = 1_500;
      const claimedAt = Date.now();
      const c1 = (await engine.claim('dead-worker', { tasks: ['t'], leaseMs }))!;
      expect(await other.recoverExpired()).toBe(0);
      expect((await other.get(job.id))!.state).toBe('running');
      await sleep(leaseMs - (Date.now() - claimedAt));
      expect(await sweepUntilRecovered(other, job.id)).toBeLessThanOrEqual(1);
      expect(await other.recoverExpired()).toBe(0);
      expect(await other.get(job.id)).toMatchObject({ state: 'queued', attempt: 1 });
      const c2 = (await other.claim('w2', { tasks: ['t'], leaseMs: 10_000 }))!;
      expect(c2.job.attempt).toBe(2);
      await expect(engine.finish(job.id, c1.token, { outcome: 'succeeded', result: 'stale' })).rejects.toMatchObject({
        code: 'TL_ERR_JOB_LEASE_LOST',
      });
      await expect(
        engine.appendEvents(job.id, c1.token, [{ jobId: job.id, seq: c1.job.lastSeq + 1, type: 'progress', data: 1, at: Date.now() }]),
      ).rejects.toMatchObject({
        code: 'TL_ERR_JOB_LEASE_LOST',
      });
      await other.finish(job.id, c2.token, { outcome: 'succeeded', result: 'fresh' });
      expect(await engine.get(job.id)).toMatchObject({ state: 'succeeded', result: 'fresh' });
      expect(types(await engine.readEvents(job.id, 0))).toEqual(['enqueued', 'started', 'retrying', 'started', 'succeeded']);
    });

    it('an expired lease on the last attempt makes the job dead', async () => {
      const job = await engine.enqueue('t', null, { maxAttempts: 1 });
      await engine.claim('w', { tasks: ['t'], leaseMs: 50 });
      await sleep(100);
      expect(await sweepUntilRecovered(engine, job.id)).toBeLessThanOrEqual(1);
      expect(await engine.get(job.id)).toMatchObject({ state: 'dead', error: { code: 'TL_ERR_JOB_LEASE_LOST' } });
      expect(types(await engine.readEvents(job.id, 0))).toEqual(['enqueued', 'started', 'dead']);
    });

    it('renew extends the lease past its first expiry', async () => {
      const job = await engine.enqueue('t', null, { maxAttempts: 1 });
      // Renewing every 700 ms leaves 1.3 s of scheduler delay before a 2 s lease could lapse.
      const leaseMs = 2_000;
      const claimedAt = Date.now();
      const c = (await engine.claim('w', { tasks: ['t'], leaseMs }))!;
      for (let i = 0; i < 4; i++) {
        await sleep(700);
        expect(await engine.renew(job.id, c.token, leaseMs)).toEqual({ cancelRequested: false });
      }
      expect(Date.now() - claimedAt).toBeGreaterThan(leaseMs);
      expect(await engine.recoverExpired()).toBe(0);
      expect((await engine.get(job.id))!.state).toBe('running');
      expect(types(await engine.readEvents(job.id, 0))).toEqual(['enqueued', 'started']);
    });

    it('release gives a job back without burning the attempt', async () => {
      const job = await engine.enqueue('t', null, { maxAttempts: 1 });
      const c = (await claimOne(engine))!;
      const back = await engine.release(job.id, c.token);
      expect(back).toMatchObject({ state: 'queued', attempt: 0 });
      expect(await engine.release(job.id, c.token)).toBeUndefined();
      expect((await claimOne(engine))!.job.attempt).toBe(1);
      expect(types(await engine.readEvents(job.id, 0))).toEqual(['enqueued', 'started', 'retrying', 'started']);
    });

    it('cancels a queued job at once and flags a running one for its holder', async () => {
      const other = await another();
      const queued = await engine.enqueue('t', null, { maxAttempts: 1, delayMs: 60_000 });
      const cancelled = await other.cancel(queued.id);
      expect(cancelled).toMatchObject({ state: 'cancelled', error: { code: 'TL_ERR_JOB_CANCELLED' } });
      expect((await engine.readEvents(queued.id, 0)).map((e) => e.type)).toEqual(['enqueued', 'cancelled']);
      await expect(other.cancel(queued.id)).rejects.toMatchObject({ code: 'TL_ERR_JOB_STATE' });
      await expect(other.cancel('missing')).rejects.toMatchObject({ code: 'TL_ERR_JOB_NOT_FOUND' });

      const running = await engine.enqueue('t', null, { maxAttempts: 1 });
      const c = (await claimOne(engine))!;
      expect((await other.cancel(running.id)).state).toBe('running');
      expect(await engine.renew(running.id, c.token, 1000)).toEqual({ cancelRequested: true });
      const done = await engine.finish(running.id, c.token, {
        outcome: 'cancelled',
        error: { code: 'TL_ERR_JOB_CANCELLED', message: 'cancelled' },
      });
      expect(done.state).toBe('cancelled');
      expect((await engine.retry(running.id)).state).toBe('queued');
    });

    it('a cancel-requested job whose holder died is cancelled by recovery', async () => {
      const job = await engine.enqueue('t', null, { maxAttempts: 3 });
      await engine.claim('w', { tasks: ['t'], leaseMs: 50 });
      await engine.cancel(job.id);
      await sleep(100);
      await engine.recoverExpired();
      expect((await engine.get(job.id))!.state).toBe('cancelled');
    });

    it('appends the holder’s events in order, fenced and without gaps', async () => {
      const job = await engine.enqueue('t', null, { maxAttempts: 1 });
      const c = (await claimOne(engine))!;
      let seq = c.job.lastSeq;
      const batch = (n: number) =>
        Array.from({ length: n }, (_, i) => ({
          jobId: job.id,
          seq: ++seq,
          type: 'progress' as const,
          data: { i },
          at: Date.now(),
          attempt: 1,
        }));
      await engine.appendEvents(job.id, c.token, batch(3));
      await engine.appendEvents(job.id, c.token, [
        { jobId: job.id, seq: ++seq, type: 'log', data: { msg: 'hi' }, at: Date.now(), attempt: 1 },
      ]);
      expect(await engine.get(job.id)).toMatchObject({ lastSeq: 6, progress: { i: 2 } });
      // A batch that does not follow the stored stream is refused whole.
      await expect(
        engine.appendEvents(job.id, c.token, [{ jobId: job.id, seq: 9, type: 'progress', data: 0, at: 0 }]),
      ).rejects.toBeTruthy();
      await expect(engine.appendEvents(job.id, 'not-the-token', batch(1))).rejects.toMatchObject({ code: 'TL_ERR_JOB_LEASE_LOST' });
      const done = await engine.finish(job.id, c.token, { outcome: 'succeeded', result: null });
      expect(done.lastSeq).toBe(7);
      const events = await engine.readEvents(job.id, 0);
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(types(events)).toEqual(['enqueued', 'started', 'progress', 'progress', 'progress', 'log', 'succeeded']);
      expect((await engine.readEvents(job.id, 4, 2)).map((e) => e.seq)).toEqual([5, 6]);
    });

    it('counts jobs per state and per task without reading rows, through every transition', async () => {
      if (!engine.counts) throw new Error(`${factory.name}: the engine keeps no counters (the overview reads them)`);
      await engine.enqueue('a', 1, { maxAttempts: 1 });
      await engine.enqueue('a', 2, { maxAttempts: 1 });
      await engine.enqueue('b', 3, { maxAttempts: 1, delayMs: 60_000 });
      const c = (await claimOne(engine, ['a']))!;
      await engine.finish(c.job.id, c.token, { outcome: 'dead', error: { code: 'X', message: 'x' } });
      const counts = (await engine.counts(['a', 'b', 'none']))!;
      expect(counts.states).toEqual({ queued: 1, delayed: 1, running: 0, waiting: 0, succeeded: 0, dead: 1, cancelled: 0 });
      expect(counts.tasks).toEqual({ a: { queued: 1, dead: 1 }, b: { delayed: 1 }, none: {} });
      await engine.retry(c.job.id);
      expect((await engine.counts([]))!.states).toMatchObject({ queued: 2, dead: 0 });
    });

    it('lists newest first with filters and a cursor', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await engine.enqueue(i % 2 ? 'a' : 'b', i, { maxAttempts: 1 })).id);
      const c = (await claimOne(engine, ['a']))!;
      const page1 = await engine.list({ limit: 3 });
      expect(page1.jobs.map((j) => j.id)).toEqual([ids[6], ids[5], ids[4]]);
      const page2 = await engine.list({ limit: 3, cursor: page1.next });
      const page3 = await engine.list({ limit: 3, cursor: page2.next });
      expect([...page2.jobs, ...page3.jobs].map((j) => j.id)).toEqual([ids[3], ids[2], ids[1], ids[0]]);
      expect(page3.next).toBeUndefined();
      expect((await engine.list({ task: 'a' })).jobs.map((j) => j.id)).toEqual([ids[5], ids[3], ids[1]]);
      expect((await engine.list({ state: 'running' })).jobs.map((j) => j.id)).toEqual([c.job.id]);
      expect((await engine.list({ task: 'a', state: 'queued' })).jobs).toHaveLength(2);
      await expect(engine.list({ cursor: 'garbage' })).rejects.toMatchObject({ code: 'TL_ERR_VALIDATION' });
    });

    it("records each job's owner and lists by owner key and/or tenant, with filters and a cursor", async () => {
      const owners = [
        { key: 'alice', tenant: 'acme' },
        { key: 'bob', tenant: 'acme' },
        { key: 'carol', tenant: 'globex' },
        { key: 'dave' },
      ];
      const made: Array<{ id: string; owner: (typeof owners)[number]; task: string }> = [];
      for (let i = 0; i < 24; i++) {
        const owner = owners[i % owners.length]!;
        const task = i % 3 === 0 ? 'a' : 'b';
        made.push({ id: (await engine.enqueue(task, i, { maxAttempts: 1, owner })).id, owner, task });
      }
      made.push({ id: (await engine.enqueue('a', 'none', { maxAttempts: 1 })).id, owner: undefined as never, task: 'a' });
      expect(await engine.get(made[0]!.id)).toMatchObject({ owner: { key: 'alice', tenant: 'acme' } });
      expect((await engine.get(made[3]!.id))!.owner).toEqual({ key: 'dave' });
      expect((await engine.get(made[24]!.id))!.owner).toBeUndefined();
      const cancelled = await engine.cancel(made[4]!.id);
      expect(cancelled.owner).toEqual({ key: 'alice', tenant: 'acme' });

      const newestFirst = (pred: (m: (typeof made)[number]) => boolean) =>
        made
          .filter(pred)
          .map((m) => m.id)
          .reverse();
      const all = async (q: Parameters<JobEngine['list']>[0]) => {
        const ids: string[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 50; page++) {
          const r = await engine.list({ ...q, limit: 2, cursor });
          ids.push(...r.jobs.map((j) => j.id));
          if (!r.next) return ids;
          cursor = r.next;
        }
        throw new Error('no end of pages');
      };
      expect(await all({ owner: { key: 'alice' } })).toEqual(newestFirst((m) => m.owner?.key === 'alice'));
      expect(await all({ owner: { tenant: 'acme' } })).toEqual(newestFirst((m) => m.owner?.tenant === 'acme'));
      expect(await all({ owner: { key: 'bob', tenant: 'globex' } })).toEqual([]);
      expect(await all({ owner: { tenant: 'acme' }, task: 'a' })).toEqual(newestFirst((m) => m.owner?.tenant === 'acme' && m.task === 'a'));
      expect(await all({ owner: { key: 'alice' }, state: 'cancelled' })).toEqual([made[4]!.id]);
      expect(await all({ owner: { key: 'nobody' } })).toEqual([]);
    });

    it('prunes ended jobs past their cut with their events and idempotency keys, and nothing else', async () => {
      const done = async (outcome: 'succeeded' | 'dead' | 'cancelled', idem?: string) => {
        const job = await engine.enqueue('t', { outcome }, { maxAttempts: 1, idempotencyKey: idem });
        if (outcome === 'cancelled') return (await engine.cancel(job.id)).id;
        const c = (await claimOne(engine))!;
        expect(c.job.id).toBe(job.id);
        await engine.appendEvents(job.id, c.token, [
          { jobId: job.id, seq: 3, type: 'progress', data: { i: 1 }, at: Date.now(), attempt: 1 },
        ]);
        await engine.finish(
          job.id,
          c.token,
          outcome === 'succeeded' ? { outcome, result: 1 } : { outcome, error: { code: 'X', message: 'x' } },
        );
        return job.id;
      };
      const oldOk = await done('succeeded', 'key-old');
      const oldDead = await done('dead');
      const oldCancelled = await done('cancelled');
      await sleep(20);
      const mid = Date.now();
      await sleep(20);
      const newOk = await done('succeeded');
      const newDead = await done('dead');
      const queued = (await engine.enqueue('t', {}, { maxAttempts: 1 })).id;
      const running = (await engine.enqueue('u', {}, { maxAttempts: 1 })).id;
      expect((await claimOne(engine, ['u']))!.job.id).toBe(running);

      // Succeeded jobs before `mid` only: the dead and cancelled ones stay.
      expect(await engine.prune({ succeededBefore: mid, failedBefore: 0 }, 100)).toBe(1);
      expect(await engine.get(oldOk)).toBeUndefined();
      expect(await engine.readEvents(oldOk, 0)).toEqual([]);
      expect(await engine.get(oldDead)).toMatchObject({ state: 'dead' });
      // Its idempotency key is free again: a new job is made.
      const again = await engine.enqueue('t', {}, { maxAttempts: 1, idempotencyKey: 'key-old' });
      expect(again.id).not.toBe(oldOk);

      // Failed ones before `mid`, one at a time (the limit holds).
      expect(await engine.prune({ succeededBefore: 0, failedBefore: mid }, 1)).toBe(1);
      expect(await engine.prune({ succeededBefore: 0, failedBefore: mid }, 10)).toBe(1);
      expect(await engine.get(oldDead)).toBeUndefined();
      expect(await engine.get(oldCancelled)).toBeUndefined();
      expect(await engine.prune({ succeededBefore: mid, failedBefore: mid }, 10)).toBe(0);

      // Everything ended so far; queued and running jobs are never pruned.
      expect(await engine.prune({ succeededBefore: Date.now() + 1, failedBefore: Date.now() + 1 }, 100)).toBe(2);
      for (const id of [newOk, newDead]) expect(await engine.get(id)).toBeUndefined();
      const left = (await engine.list({ limit: 100 })).jobs.map((j) => j.id).sort();
      expect(left).toEqual([queued, running, again.id].sort());
      for (const state of ['succeeded', 'dead', 'cancelled'] as const) expect((await engine.list({ state })).jobs).toEqual([]);
      expect((await engine.list({ task: 't' })).jobs.map((j) => j.id).sort()).toEqual([queued, again.id].sort());
    });

    it('is ready while open and refuses work once closed', async () => {
      expect(engine.ready()).toBe(true);
      const other = await another();
      await other.close();
      await other.close();
      expect(other.ready()).not.toBe(true);
      await expect(other.get('x')).rejects.toMatchObject({ code: 'TL_ERR_STORE_UNAVAILABLE' });
    });
  });
}
