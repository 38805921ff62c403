/**
 * The workflow part of the engine contract (the "Workflows" section of src/jobs/engine.ts):
 * journal entries fenced by the attempt's token, park and wake (time, signal, children), signals
 * kept until taken, child jobs. Each engine's test file calls `workflowConformance(factory)` next
 * to `engineConformance(factory)`; `another()` is a second process's view of the same store, so
 * "across a restart" means a fresh handle that never saw the first one's state.
 */
import { describe, expect, it } from 'vitest';
import type { JobEngine } from '../../src/jobs/engine.js';
import type { JobEvent } from '../../src/jobs/types.js';
import { type EngineFactory, storePerTest, sweepUntilRecovered } from './conformance.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The workflow methods, asserted present (an engine without them fails every case here, loudly). */
function wf(e: JobEngine) {
  const need = <K extends keyof JobEngine>(k: K) => {
    const f = e[k];
    if (typeof f !== 'function') throw new Error(`the ${e.kind} engine does not implement ${String(k)}() (src/jobs/engine.ts, Workflows)`);
    return (f as (...args: never[]) => unknown).bind(e) as NonNullable<JobEngine[K]>;
  };
  return {
    readJournal: need('readJournal'),
    writeJournal: need('writeJournal'),
    park: need('park'),
    wakeDue: need('wakeDue'),
    signal: need('signal'),
    takeSignal: need('takeSignal'),
    children: need('children'),
  };
}

export function workflowConformance(factory: EngineFactory): void {
  describe(`job engine conformance, workflows: ${factory.name}`, () => {
    let engine!: JobEngine;
    const { another, adopt } = storePerTest(factory, (e) => (engine = e));
    const claimOne = (e: JobEngine, tasks = ['t'], leaseMs = 10_000) => e.claim('w1', { tasks, leaseMs });
    const types = (events: JobEvent[]) => events.map((e) => e.type);
    const step = (key: string, pos: number, result: unknown) => ({
      key,
      pos,
      status: 'completed' as const,
      result,
      startedAt: Date.now() - 5,
      endedAt: Date.now(),
    });

    it('stores journal entries fenced by the token, replaces by key, and reads them back from another handle', async () => {
      const w = wf(engine);
      const job = await engine.enqueue('t', null, { maxAttempts: 3 });
      expect(await w.readJournal(job.id)).toEqual([]);
      const c = (await claimOne(engine))!;
      await w.writeJournal(job.id, c.token, [step('step:a#0', 0, { n: 1 })]);
      await w.writeJournal(job.id, c.token, [
        step('step:b#0', 1, 'two'),
        { key: 'ai:step:c#0#0', status: 'completed', result: { text: 'x' }, startedAt: 1, endedAt: 2 },
      ]);
      await w.writeJournal(job.id, c.token, [
        { key: 'step:b#0', pos: 1, status: 'failed', error: { code: 'E', message: 'm' }, startedAt: 3 },
      ]);
      const other = wf(await another());
      const byKey = new Map((await other.readJournal(job.id)).map((e) => [e.key, e]));
      expect(byKey.size).toBe(3);
      expect(byKey.get('step:a#0')).toMatchObject({ pos: 0, status: 'completed', result: { n: 1 } });
      expect(byKey.get('step:b#0')).toMatchObject({ pos: 1, status: 'failed', error: { code: 'E', message: 'm' } });
      expect(byKey.get('step:b#0')!.result).toBeUndefined();
      expect(byKey.get('ai:step:c#0#0')).toMatchObject({ status: 'completed', result: { text: 'x' } });
      expect(byKey.get('ai:step:c#0#0')!.pos).toBeUndefined();
      await expect(w.writeJournal('missing', c.token, [step('step:a#0', 0, 1)])).rejects.toMatchObject({ code: 'TL_ERR_JOB_NOT_FOUND' });
    });

    it("refuses a stale attempt's journal write and stores nothing of it", async () => {
      const w = wf(engine);
      const job = await engine.enqueue('t', null, { maxAttempts: 3 });
      const stale = (await engine.claim('dead-worker', { tasks: ['t'], leaseMs: 80 }))!;
      await w.writeJournal(job.id, stale.token, [step('step:a#0', 0, 'first')]);
      await sleep(120);
      expect(await sweepUntilRecovered(engine, job.id)).toBeLessThanOrEqual(1);
      expect(await engine.get(job.id)).toMatchObject({ state: 'queued', attempt: 1 });
      const fresh = (await claimOne(engine))!;
      expect(fresh.job.attempt).toBe(2);
      await expect(w.writeJournal(job.id, stale.token, [step('step:b#0', 1, 'stale')])).rejects.toMatchObject({
        code: 'TL_ERR_JOB_LEASE_LOST',
      });
      await expect(w.writeJournal(job.id, stale.token, [step('step:a#0', 0, 'overwritten')])).rejects.toMatchObject({
        code: 'TL_ERR_JOB_LEASE_LOST',
      });
      const entries = await w.readJournal(job.id);
      expect(entries.map((e) => [e.key, e.result])).toEqual([['step:a#0', 'first']]);
      await w.writeJournal(job.id, fresh.token, [step('step:b#0', 1, 'fresh')]);
      await expect(w.park(job.id, stale.token, { kind: 'sleep', until: Date.now() + 1000 })).rejects.toMatchObject({
        code: 'TL_ERR_JOB_LEASE_LOST',
      });
      expect((await engine.get(job.id))!.state).toBe('running');
      await engine.finish(job.id, fresh.token, { outcome: 'succeeded', result: 1 });
      // A finished job's attempt is over: its token writes nothing more.
      await expect(w.writeJournal(job.id, fresh.token, [step('step:c#0', 2, 'late')])).rejects.toMatchObject({
        code: 'TL_ERR_JOB_LEASE_LOST',
      });
      expect((await w.readJournal(job.id)).map((e) => e.key).sort()).toEqual(['step:a#0', 'step:b#0']);
    });

    it('parks on time: waiting out of the lease, woken when due, the same attempt continues (across a restart)', async () => {
      const w = wf(engine);
      const job = await engine.enqueue('t', null, { maxAttempts: 2 });
      const c = (await claimOne(engine))!;
      const until = Date.now() + 250;
      const parked = await w.park(job.id, c.token, { kind: 'sleep', until }, [
        { key: 'sleep:#0', pos: 0, status: 'waiting', result: { until }, startedAt: Date.now() },
      ]);
      expect(parked).toMatchObject({ state: 'waiting', waitingFor: { kind: 'sleep', until }, attempt: 0, runAt: until });
      const events = await engine.readEvents(job.id, 0);
      expect(types(events)).toEqual(['enqueued', 'started', 'waiting']);
      expect(events[2]!.data).toEqual({ waitingFor: { kind: 'sleep', until } });
      expect(parked.lastSeq).toBe(3);
      // No lease: renew and finish with the old token are refused, recovery leaves it alone, nobody can claim it.
      await expect(engine.renew(job.id, c.token, 1000)).rejects.toMatchObject({ code: 'TL_ERR_JOB_LEASE_LOST' });
      expect(await engine.recoverExpired()).toBe(0);
      expect(await claimOne(engine)).toBeUndefined();
      expect(await w.wakeDue()).toBe(0);
      expect((await engine.list({ state: 'waiting' })).jobs.map((j) => j.id)).toEqual([job.id]);
      const counts = await engine.counts?.(['t']);
      if (counts) expect(counts.states.waiting).toBe(1);
      // Another process (a restart) wakes it when due and continues the same attempt.
      await engine.close();
      const next = await another();
      const w2 = wf(next);
      await sleep(Math.max(0, until - Date.now()) + 30);
      expect(await w2.wakeDue()).toBe(1);
      const woken = (await next.get(job.id))!;
      expect(woken.state).toBe('queued');
      expect(woken.waitingFor).toBeUndefined();
      const tail = await next.readEvents(job.id, 3);
      expect(tail).toMatchObject([{ seq: 4, type: 'woken', data: { by: 'time' } }]);
      const c2 = (await claimOne(next))!;
      expect(c2.job.attempt).toBe(1);
      expect((await w2.readJournal(job.id)).map((e) => [e.key, e.status])).toEqual([['sleep:#0', 'waiting']]);
      engine = next;
      adopt(next);
    });

    it('wakes a job waiting for a signal, passes each signal once, and refuses a finished job (409 state)', async () => {
      const w = wf(engine);
      const job = await engine.enqueue('t', null, { maxAttempts: 1 });
      const c = (await claimOne(engine))!;
      expect(await w.takeSignal(job.id, c.token, 'approve', { key: 'signal:approve#0', pos: 0, startedAt: Date.now() })).toBeUndefined();
      const parked = await w.park(job.id, c.token, { kind: 'signal', name: 'approve' });
      expect(parked).toMatchObject({ state: 'waiting', waitingFor: { kind: 'signal', name: 'approve' } });
      expect(parked.runAt).toBeGreaterThan(Date.now() + 365 * 86_400_000);
      // Another name does not wake it.
      expect(await w.signal(job.id, 'other', 1)).toMatchObject({ state: 'waiting' });
      const other = wf(await another());
      const after = await other.signal(job.id, 'approve', { by: 'ana' });
      expect(after.state).toBe('queued');
      expect((await engine.readEvents(job.id, parked.lastSeq)).map((e) => [e.type, e.data])).toEqual([
        ['woken', { by: 'signal', name: 'approve' }],
      ]);
      const c2 = (await claimOne(engine))!;
      const entry = { key: 'signal:approve#0', pos: 0, startedAt: Date.now() };
      expect(await w.takeSignal(job.id, c2.token, 'approve', entry)).toEqual({ payload: { by: 'ana' } });
      expect(await w.takeSignal(job.id, c2.token, 'approve', { ...entry, key: 'signal:approve#1', pos: 1 })).toBeUndefined();
      expect(await w.takeSignal(job.id, c2.token, 'other', { ...entry, key: 'signal:other#0', pos: 1 })).toEqual({ payload: 1 });
      const journal = new Map((await w.readJournal(job.id)).map((e) => [e.key, e]));
      expect(journal.get('signal:approve#0')).toMatchObject({ status: 'completed', result: { by: 'ana' }, pos: 0 });
      expect(journal.has('signal:approve#1')).toBe(false);
      await engine.finish(job.id, c2.token, { outcome: 'succeeded', result: null });
      await expect(w.signal(job.id, 'approve', 2)).rejects.toMatchObject({ code: 'TL_ERR_JOB_STATE', httpStatus: 409 });
      await expect(w.signal('missing', 'approve', 2)).rejects.toMatchObject({ code: 'TL_ERR_JOB_NOT_FOUND' });
    });

    it('keeps a signal sent before the wait: parking for it goes on at once', async () => {
      const w = wf(engine);
      const job = await engine.enqueue('t', null, { maxAttempts: 1 });
      // Sent while queued, and again while running: both kept, in order.
      await w.signal(job.id, 'go', 'first');
      const c = (await claimOne(engine))!;
      await w.signal(job.id, 'go', 'second');
      const parked = await w.park(job.id, c.token, { kind: 'signal', name: 'go' });
      expect(parked.state).toBe('queued');
      const tail = await engine.readEvents(job.id, 2);
      expect(types(tail)).toEqual(['waiting', 'woken']);
      expect(tail[1]!.data).toEqual({ by: 'signal', name: 'go' });
      const c2 = (await claimOne(engine))!;
      const at = Date.now();
      expect(await w.takeSignal(job.id, c2.token, 'go', { key: 'signal:go#0', pos: 0, startedAt: at })).toEqual({ payload: 'first' });
      expect(await w.takeSignal(job.id, c2.token, 'go', { key: 'signal:go#1', pos: 1, startedAt: at })).toEqual({ payload: 'second' });
      expect(await w.takeSignal(job.id, c2.token, 'go', { key: 'signal:go#2', pos: 2, startedAt: at })).toBeUndefined();
    });

    it("wakes a signal wait at its timeout; a stale token's take is refused and takes nothing", async () => {
      const w = wf(engine);
      const job = await engine.enqueue('t', null, { maxAttempts: 1 });
      const c = (await claimOne(engine))!;
      const timeoutAt = Date.now() + 150;
      const parked = await w.park(job.id, c.token, { kind: 'signal', name: 'x', timeoutAt });
      expect(parked).toMatchObject({ state: 'waiting', runAt: timeoutAt });
      await expect(w.takeSignal(job.id, c.token, 'x', { key: 'signal:x#0', pos: 0, startedAt: 0 })).rejects.toMatchObject({
        code: 'TL_ERR_JOB_LEASE_LOST',
      });
      await sleep(200);
      expect(await w.wakeDue()).toBe(1);
      expect((await engine.readEvents(job.id, parked.lastSeq)).map((e) => e.data)).toEqual([{ by: 'time' }]);
      const c2 = (await claimOne(engine))!;
      await w.signal(job.id, 'x', 'late');
      expect(await w.takeSignal(job.id, c2.token, 'x', { key: 'signal:x#0', pos: 0, startedAt: 0 })).toEqual({ payload: 'late' });
    });

    it('a retry by hand drops the failed journal entries and keeps the completed ones', async () => {
      const w = wf(engine);
      const job = await engine.enqueue('t', null, { maxAttempts: 1 });
      const c = (await claimOne(engine))!;
      await w.writeJournal(job.id, c.token, [
        step('step:a#0', 0, 'kept'),
        { key: 'step:b#0', pos: 1, status: 'failed', error: { code: 'E', message: 'm' }, startedAt: 1, endedAt: 2 },
        { key: 'ai:step:b#0#0', status: 'completed', result: 'answer', startedAt: 1, endedAt: 2 },
      ]);
      await engine.finish(job.id, c.token, { outcome: 'dead', error: { code: 'E', message: 'm' } });
      await engine.retry(job.id);
      expect((await w.readJournal(job.id)).map((e) => e.key).sort()).toEqual(['ai:step:b#0#0', 'step:a#0']);
    });

    it('cancels a waiting job at once', async () => {
      const w = wf(engine);
      const job = await engine.enqueue('t', null, { maxAttempts: 1 });
      const c = (await claimOne(engine))!;
      await w.park(job.id, c.token, { kind: 'sleep', until: Date.now() + 60_000 });
      const cancelled = await engine.cancel(job.id);
      expect(cancelled.state).toBe('cancelled');
      expect(types(await engine.readEvents(job.id, 0)).slice(-2)).toEqual(['waiting', 'cancelled']);
      expect(await w.wakeDue()).toBe(0);
    });

    it('children: listed in spawn order, the parent woken by the last end, child.ended in its stream', async () => {
      const w = wf(engine);
      const parent = await engine.enqueue('p', null, { maxAttempts: 1 });
      const pc = (await claimOne(engine, ['p']))!;
      const kids = [];
      for (let i = 0; i < 3; i++) {
        kids.push(await engine.enqueue('c', { i }, { maxAttempts: 1, parentId: parent.id, idempotencyKey: `${parent.id}:spawn#${i}` }));
      }
      // Spawning again (a replay) returns the same child.
      const again = await engine.enqueue('c', { i: 0 }, { maxAttempts: 1, parentId: parent.id, idempotencyKey: `${parent.id}:spawn#0` });
      expect(again.id).toBe(kids[0]!.id);
      expect(kids[0]).toMatchObject({ parentId: parent.id, state: 'queued' });
      expect((await w.children(parent.id)).map((k) => k.id)).toEqual(kids.map((k) => k.id));
      expect(await w.children(kids[0]!.id)).toEqual([]);
      // The first child ends while the parent is held: its child.ended waits for the parent's park.
      const k0 = (await claimOne(engine, ['c']))!;
      await engine.finish(k0.job.id, k0.token, { outcome: 'succeeded', result: 'r0' });
      expect(types(await engine.readEvents(parent.id, 0))).toEqual(['enqueued', 'started']);
      const ids = kids.map((k) => k.id);
      const parked = await w.park(parent.id, pc.token, { kind: 'children', ids });
      expect(parked).toMatchObject({ state: 'waiting', waitingFor: { kind: 'children', ids } });
      let events = await engine.readEvents(parent.id, 2);
      expect(events.map((e) => [e.type, e.data])).toEqual([
        ['child.ended', { id: ids[0], task: 'c', state: 'succeeded' }],
        ['waiting', { waitingFor: { kind: 'children', ids } }],
      ]);
      // The second dies (on another handle): reported at once, the parent still waits for the third.
      const other = await another();
      const k1 = (await claimOne(other, ['c']))!;
      await other.finish(k1.job.id, k1.token, { outcome: 'dead', error: { code: 'TL_ERR_TASK_FAILED', message: 'bad page' } });
      expect((await engine.get(parent.id))!.state).toBe('waiting');
      // The third is cancelled while queued: the last end wakes the parent.
      await engine.cancel(ids[2]!);
      expect((await engine.get(parent.id))!.state).toBe('queued');
      events = await engine.readEvents(parent.id, parked.lastSeq);
      expect(events.map((e) => [e.type, e.data])).toEqual([
        ['child.ended', { id: ids[1], task: 'c', state: 'dead', error: { code: 'TL_ERR_TASK_FAILED', message: 'bad page' } }],
        [
          'child.ended',
          { id: ids[2], task: 'c', state: 'cancelled', error: { code: 'TL_ERR_JOB_CANCELLED', message: 'the job was cancelled' } },
        ],
        ['woken', { by: 'children' }],
      ]);
      expect(await w.children(parent.id)).toEqual([
        { id: ids[0], task: 'c', state: 'succeeded', result: 'r0' },
        { id: ids[1], task: 'c', state: 'dead', error: { code: 'TL_ERR_TASK_FAILED', message: 'bad page' } },
        { id: ids[2], task: 'c', state: 'cancelled', error: { code: 'TL_ERR_JOB_CANCELLED', message: 'the job was cancelled' } },
      ]);
      // Parking on children that all ended goes on at once.
      const pc2 = (await claimOne(engine, ['p']))!;
      expect(pc2.job.attempt).toBe(1);
      const again2 = await w.park(parent.id, pc2.token, { kind: 'children', ids });
      expect(again2.state).toBe('queued');
    });

    it('a child that dies by lease recovery wakes its waiting parent', async () => {
      const w = wf(engine);
      const parent = await engine.enqueue('p', null, { maxAttempts: 1 });
      const pc = (await claimOne(engine, ['p']))!;
      const kid = await engine.enqueue('c', null, { maxAttempts: 1, parentId: parent.id, idempotencyKey: `${parent.id}:spawn#0` });
      await w.park(parent.id, pc.token, { kind: 'children', ids: [kid.id] });
      await engine.claim('dead-worker', { tasks: ['c'], leaseMs: 50 });
      await sleep(100);
      expect(await sweepUntilRecovered(engine, kid.id)).toBeLessThanOrEqual(1);
      expect((await engine.get(kid.id))!.state).toBe('dead');
      expect((await engine.get(parent.id))!.state).toBe('queued');
      const tail = await engine.readEvents(parent.id, 3);
      expect(types(tail)).toEqual(['child.ended', 'woken']);
      expect(tail[0]!.data).toMatchObject({ id: kid.id, state: 'dead', error: { code: 'TL_ERR_JOB_LEASE_LOST' } });
    });
  });
}
