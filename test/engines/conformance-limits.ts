/**
 * Conformance cases for schedules and per-task limits, run against every engine by
 * test/engines/sqlite.test.ts and redis.test.ts with the same factory as the main suite: schedule
 * state shared by two handles (two processes' views), and limit groups whose held jobs wait as
 * `queued`, out of the claim path, admitted by pumps that never pass a limit across handles.
 */
import { describe, expect, it } from 'vitest';
import type { JobEngine } from '../../src/jobs/engine.js';
import { type EngineFactory, storePerTest } from './conformance.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function limitsConformance(factory: EngineFactory): void {
  describe(`schedules and limits conformance: ${factory.name}`, () => {
    let engine!: JobEngine;
    const { another } = storePerTest(factory, (e) => (engine = e));
    const limits = (e: JobEngine) => e.limits!;
    const claimAll = async (e: JobEngine, task: string) => {
      const out = [];
      for (let c = await e.claim('w', { tasks: [task], leaseMs: 10_000 }); c; c = await e.claim('w', { tasks: [task], leaseMs: 10_000 }))
        out.push(c);
      return out;
    };

    it('keeps schedule state that every handle reads, moving only forward', async () => {
      const s = engine.schedules!;
      const other = (await another()).schedules!;
      expect(await s.read(['nightly'])).toEqual(new Map());
      expect(await s.init('nightly', 1_000)).toEqual({ name: 'nightly', lastTickAt: 1_000 });
      // A second init (another process starting) keeps the first baseline.
      expect(await other.init('nightly', 5_000)).toEqual({ name: 'nightly', lastTickAt: 1_000 });
      await other.advance('nightly', 2_000, 'job-a');
      await s.advance('nightly', 1_500, 'job-old');
      expect((await s.read(['nightly'])).get('nightly')).toEqual({ name: 'nightly', lastTickAt: 2_000, lastJobId: 'job-a' });
      // A skipped tick moves the tick and keeps the job.
      await s.advance('nightly', 3_000);
      expect((await other.read(['nightly', 'none'])).get('nightly')).toEqual({ name: 'nightly', lastTickAt: 3_000, lastJobId: 'job-a' });
    });

    it('holds a job of a limited task as queued, out of the claim path, until a pump admits it', async () => {
      const job = await engine.enqueue('lim', { t: 'A' }, { maxAttempts: 1, group: 'A' });
      expect(job).toMatchObject({ state: 'queued', group: 'A' });
      expect(await engine.get(job.id)).toMatchObject({ state: 'queued', group: 'A' });
      expect(await engine.claim('w', { tasks: ['lim'], leaseMs: 10_000 })).toBeUndefined();
      const listed = await engine.list({ state: 'queued' });
      expect(listed.jobs.map((j) => j.id)).toEqual([job.id]);
      const counted = await engine.counts?.(['lim']);
      if (counted) expect(counted.tasks.lim).toMatchObject({ queued: 1 });
      expect(await limits(engine).heldGroups()).toEqual([{ task: 'lim', group: 'A' }]);
      expect(await limits(engine).pump('lim', 'A', { concurrency: 1 })).toEqual({ admitted: 1, held: 0 });
      const claim = await engine.claim('w', { tasks: ['lim'], leaseMs: 10_000 });
      expect(claim?.job.id).toBe(job.id);
      expect(await limits(engine).heldGroups()).toEqual([]);
    });

    it('admits up to the concurrency limit per group, and more only once a job ended', async () => {
      const a = [];
      for (let i = 0; i < 4; i++) a.push(await engine.enqueue('lim', { i }, { maxAttempts: 1, group: 'A' }));
      const b = await engine.enqueue('lim', { b: 1 }, { maxAttempts: 1, group: 'B' });
      expect(await limits(engine).pump('lim', 'A', { concurrency: 2 })).toEqual({ admitted: 2, held: 2 });
      // A's backlog does not hold B back.
      expect(await limits(engine).pump('lim', 'B', { concurrency: 2 })).toEqual({ admitted: 1, held: 0 });
      const first = await claimAll(engine, 'lim');
      expect(first.map((c) => c.job.id).sort()).toEqual([a[0]!.id, a[1]!.id, b.id].sort());
      // Nothing ended: no room, and no time to come back at (a slot frees only when a job ends).
      expect(await limits(engine).pump('lim', 'A', { concurrency: 2 })).toEqual({ admitted: 0, held: 2 });
      const done = first.find((c) => c.job.id === a[0]!.id)!;
      await engine.finish(done.job.id, done.token, { outcome: 'succeeded', result: null });
      expect(await limits(engine).pump('lim', 'A', { concurrency: 2 })).toEqual({ admitted: 1, held: 1 });
      expect((await claimAll(engine, 'lim')).map((c) => c.job.id)).toEqual([a[2]!.id]);
    });

    it('admits by priority, then in order, and only jobs that are due', async () => {
      const low = await engine.enqueue('lim', 1, { maxAttempts: 1, group: 'g' });
      const later = await engine.enqueue('lim', 2, { maxAttempts: 1, group: 'g', priority: 9, delayMs: 60_000 });
      const high = await engine.enqueue('lim', 3, { maxAttempts: 1, group: 'g', priority: 5 });
      expect(later.state).toBe('queued');
      const r = await limits(engine).pump('lim', 'g', { concurrency: 1 });
      expect(r).toMatchObject({ admitted: 1, held: 2 });
      expect((await claimAll(engine, 'lim')).map((c) => c.job.id)).toEqual([high.id]);
      void low;
    });

    it('paces admissions by the rate window and says when the next one is allowed', async () => {
      for (let i = 0; i < 5; i++) await engine.enqueue('lim', i, { maxAttempts: 1, group: '' });
      const spec = { rate: { limit: 2, periodMs: 400 } };
      const t0 = Date.now();
      const r1 = await limits(engine).pump('lim', '', spec);
      expect(r1).toMatchObject({ admitted: 2, held: 3 });
      expect(r1.nextAt).toBeGreaterThanOrEqual(t0 + 400);
      expect(r1.nextAt).toBeLessThanOrEqual(Date.now() + 400);
      expect(await limits(engine).pump('lim', '', spec)).toMatchObject({ admitted: 0, held: 3 });
      await sleep(r1.nextAt! - Date.now() + 5);
      expect(await limits(engine).pump('lim', '', spec)).toMatchObject({ admitted: 2, held: 1 });
      expect(await claimAll(engine, 'lim')).toHaveLength(4);
    });

    it('never admits past the limit when two handles pump the same group at once', async () => {
      const other = await another();
      for (let i = 0; i < 20; i++) await engine.enqueue('lim', i, { maxAttempts: 1, group: 'A' });
      const spec = { concurrency: 3 };
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => limits(i % 2 ? other : engine).pump('lim', 'A', spec)));
      expect(results.reduce((n, r) => n + r.admitted, 0)).toBe(3);
      expect(await claimAll(other, 'lim')).toHaveLength(3);
    });

    it('drops a cancelled held job from its group, and an idempotent repeat holds nothing more', async () => {
      const a = await engine.enqueue('lim', 1, { maxAttempts: 1, group: 'A', idempotencyKey: 'k' });
      const again = await engine.enqueue('lim', 2, { maxAttempts: 1, group: 'A', idempotencyKey: 'k' });
      expect(again.id).toBe(a.id);
      const b = await engine.enqueue('lim', 3, { maxAttempts: 1, group: 'A' });
      expect((await engine.cancel(a.id)).state).toBe('cancelled');
      expect(await limits(engine).pump('lim', 'A', { concurrency: 5 })).toEqual({ admitted: 1, held: 0 });
      expect((await claimAll(engine, 'lim')).map((c) => c.job.id)).toEqual([b.id]);
    });

    it('sends a retried job of a group back through its gate', async () => {
      const a = await engine.enqueue('lim', 1, { maxAttempts: 1, group: 'A' });
      await limits(engine).pump('lim', 'A', { concurrency: 1 });
      const [c] = await claimAll(engine, 'lim');
      await engine.finish(a.id, c!.token, { outcome: 'dead', error: { code: 'X', message: 'x' } });
      const retried = await engine.retry(a.id);
      expect(retried.state).toBe('queued');
      expect(await engine.claim('w', { tasks: ['lim'], leaseMs: 10_000 })).toBeUndefined();
      expect(await limits(engine).pump('lim', 'A', { concurrency: 1 })).toEqual({ admitted: 1, held: 0 });
      expect((await claimAll(engine, 'lim')).map((x) => x.job.id)).toEqual([a.id]);
    });
  });
}
