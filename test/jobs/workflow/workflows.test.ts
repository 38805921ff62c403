/**
 * Workflows through runtime.jobs on a real SQLite file and the real worker loop: steps replayed on
 * a retry (not run again), occurrences, step retries/timeout/size limit, a changed order, durable
 * sleep and signals (early signal kept, timeout, finished job refused), spawn/join with a failed
 * child, cancel cascading to children, AI calls inside steps counted at the mock provider. On both
 * engines.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { JobEvent } from '../../../src/jobs/types.js';
import { aiConfig } from '../../ai/fixtures.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import type { TestRuntime } from '../../support/runtime.js';
import type { ConfigInput } from '../../../src/index.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../../support/redis.js';
import { collect, jobsRuntime, waitFor } from '../helpers.js';

const WF_TASKS = fileURLToPath(new URL('../../fixtures/jobs/workflow-tasks.ts', import.meta.url));
const runs = (jobId: string, what: string) => (globalThis as { __wfRuns?: Map<string, number> }).__wfRuns?.get(`${jobId}:${what}`) ?? 0;
const of = (events: JobEvent[], type: string) => events.filter((e) => e.type === type);

let mock: MockProvider;
let t: TestRuntime;
beforeAll(async () => {
  mock = await startMockProvider();
});
afterAll(async () => {
  await mock.close();
});
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deleteKeys(p);
});

// The same cases on both engines: the embedded SQLite file, and Redis (a fresh prefix per test).
for (const engine of ['sqlite', 'redis'] as const) {
  describe(`workflows on ${engine}`, () => {
    if (engine === 'redis') beforeAll(() => requireRedis());
    beforeEach(async () => {
      mock.reset();
      const store: ConfigInput['store'] | undefined =
        engine === 'redis' ? { engine: 'redis', url: REDIS_URL, prefix: prefixes[prefixes.push(testPrefix('wf')) - 1]! } : undefined;
      t = await jobsRuntime({
        ...aiConfig(mock.url),
        ...(store ? { store } : {}),
        jobs: { modules: [WF_TASKS], maxStepResultBytes: 1_000 },
      });
    });
    afterEach(async () => {
      await t.close();
    });

    describe('steps', () => {
      it('a retried job replays its finished steps (each ran once), with occurrences and step events', async () => {
        const { jobs } = t.runtime;
        const job = await jobs.enqueue('wf.counted', { n: 3 });
        const events = await collect(t.runtime, job.id);
        expect((await jobs.get(job.id))!).toMatchObject({ state: 'succeeded', result: { out: [0, 2, 4], attempt: 2 } });
        for (let i = 0; i < 3; i++) expect(runs(job.id, `item${i}`)).toBe(1);
        expect(of(events, 'step.completed').map((e) => e.data)).toMatchObject([
          { name: 'item', occurrence: 0 },
          { name: 'item', occurrence: 1 },
          { name: 'item', occurrence: 2 },
        ]);
        expect(of(events, 'step.replayed').map((e) => [e.attempt, e.data])).toEqual([
          [2, { name: 'item', occurrence: 0 }],
          [2, { name: 'item', occurrence: 1 }],
          [2, { name: 'item', occurrence: 2 }],
        ]);
        expect((of(events, 'step.completed')[0]!.data as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(0);
        const view = await jobs.workflow(job.id);
        expect(view.steps.map((s) => [s.name, s.occurrence, s.state])).toEqual([
          ['item', 0, 'completed'],
          ['item', 1, 'completed'],
          ['item', 2, 'completed'],
        ]);
      });

      it('retries a step with backoff, then stores its result; a try past timeoutMs fails the step for good', async () => {
        const { jobs } = t.runtime;
        const ok = await jobs.enqueue('wf.step-options', { failTimes: 2 });
        expect(await waitFor(t.runtime, ok.id, ['succeeded', 'dead'])).toMatchObject({ state: 'succeeded', result: 3 });
        expect(runs(ok.id, 'retried')).toBe(3);
        const slow = await jobs.enqueue('wf.step-options', { failTimes: 0, hangMs: 5_000 });
        const dead = await waitFor(t.runtime, slow.id, ['succeeded', 'dead']);
        expect(dead).toMatchObject({ state: 'dead', error: { code: 'TL_ERR_JOB_STEP_TIMEOUT' } });
        const events = await collect(t.runtime, slow.id);
        expect(of(events, 'step.failed').map((e) => e.data)).toMatchObject([{ name: 'slow', error: { code: 'TL_ERR_JOB_STEP_TIMEOUT' } }]);
        expect((await jobs.workflow(slow.id)).steps.map((s) => [s.name, s.state])).toEqual([
          ['retried', 'completed'],
          ['slow', 'failed'],
        ]);
      });

      it('retrying a dead workflow by hand replays its completed steps and runs its failed one again', async () => {
        const { jobs } = t.runtime;
        const job = await jobs.enqueue('wf.step-options', { failTimes: 0, hangMs: 5_000 });
        const dead = await waitFor(t.runtime, job.id, ['succeeded', 'dead']);
        expect(dead.error!.code).toBe('TL_ERR_JOB_STEP_TIMEOUT');
        expect((await jobs.retry(job.id)).state).toBe('queued');
        const again = await waitFor(t.runtime, job.id, ['dead', 'succeeded']);
        const after = (await collect(t.runtime, job.id, dead.lastSeq)).filter((e) => e.type.startsWith('step.'));
        expect(after.map((e) => [e.type, (e.data as { name: string }).name])).toEqual([
          ['step.replayed', 'retried'],
          ['step.started', 'slow'],
          ['step.failed', 'slow'],
        ]);
        expect(runs(job.id, 'retried')).toBe(1);
        expect(again.state).toBe('dead');
      });

      it('a changed order of steps fails the job with TL_ERR_JOB_STEP_MISMATCH instead of replaying the wrong result', async () => {
        const job = await t.runtime.jobs.enqueue('wf.reordered', null);
        const end = await waitFor(t.runtime, job.id, ['succeeded', 'dead']);
        expect(end).toMatchObject({ state: 'dead', attempt: 2, error: { code: 'TL_ERR_JOB_STEP_MISMATCH' } });
        expect(end.error!.message).toContain('step:y#0');
        expect(end.error!.message).toContain('step:x#0');
      });

      it('a step result over jobs.maxStepResultBytes fails with a clear error, not retried', async () => {
        const job = await t.runtime.jobs.enqueue('wf.big', null);
        const end = await waitFor(t.runtime, job.id, ['succeeded', 'dead']);
        expect(end).toMatchObject({ state: 'dead', attempt: 1, error: { code: 'TL_ERR_JOB_STEP_RESULT_TOO_LARGE' } });
        expect(end.error!.message).toContain('jobs.maxStepResultBytes (1000)');
      });

      it('AI calls inside steps are journaled: a retried job pays for none of them again', async () => {
        const job = await t.runtime.jobs.enqueue('wf.pipeline', { tag: 'p1', failFirst: true });
        const end = await waitFor(t.runtime, job.id, ['succeeded', 'dead']);
        expect(end).toMatchObject({ state: 'succeeded', attempt: 2 });
        expect(end.result).toEqual({ a: 'echo: p1 A', b: ['echo: p1 B1', 'echo: p1 B2', 'echo: p1 B3'], c: 'echo: p1 C' });
        // Five calls in all: the second attempt replayed every step and every call.
        expect(mock.calls.map((c) => c.body.messages.at(-1).content)).toEqual(['p1 A', 'p1 B1', 'p1 B2', 'p1 B3', 'p1 C']);
        const journal = await t.runtime.jobs.engine.readJournal!(job.id);
        expect(
          journal
            .filter((e) => e.key.startsWith('ai:step:b#0#'))
            .map((e) => e.key)
            .sort(),
        ).toEqual(['ai:step:b#0#0', 'ai:step:b#0#1', 'ai:step:b#0#2']);
      });

      it('a step in a thread lane takes a task definition; its AI call is journaled there too', async () => {
        const job = await t.runtime.jobs.enqueue('wf.lane-step', { text: 'from a thread' });
        const end = await waitFor(t.runtime, job.id, ['succeeded', 'dead']);
        expect(end).toMatchObject({ state: 'succeeded', result: { answer: 'echo: from a thread', inThread: true } });
        expect(mock.calls).toHaveLength(1);
        const journal = await t.runtime.jobs.engine.readJournal!(job.id);
        expect(journal.map((e) => e.key).sort()).toEqual(['ai:step:in-thread#0#0', 'step:in-thread#0']);
      });
    });

    describe('where workflow calls run', () => {
      it('a task on a thread lane gets TL_ERR_JOB_WORKFLOW_UNSUPPORTED from ctx.step, saying what to do, without retries', async () => {
        const job = await t.runtime.jobs.enqueue('wf.in-thread', null);
        const end = await waitFor(t.runtime, job.id, ['succeeded', 'dead']);
        expect(end).toMatchObject({ state: 'dead', attempt: 1, error: { code: 'TL_ERR_JOB_WORKFLOW_UNSUPPORTED' } });
        expect(end.error!.message).toContain('loop lane');
      });
    });

    describe('durable sleep and signals', () => {
      it('sleep parks the job (waiting, no lane slot) and wakes it on time; steps before it are not run again', async () => {
        const { jobs } = t.runtime;
        const job = await jobs.enqueue('wf.sleepy', { ms: 400 });
        const waiting = await waitFor(t.runtime, job.id, ['waiting']);
        expect(waiting.waitingFor).toMatchObject({ kind: 'sleep' });
        // Out of its lane slot (on Redis the park's last round trips may still be ending when the state reads waiting).
        for (const end = Date.now() + 2_000; t.runtime.lanes.get('jobs').active > 0 && Date.now() < end; )
          await new Promise((r) => setTimeout(r, 10));
        expect(t.runtime.lanes.get('jobs').active).toBe(0);
        const end = await waitFor(t.runtime, job.id, ['succeeded', 'dead']);
        const { before, after } = end.result as { before: number; after: number };
        expect(after - before).toBeGreaterThanOrEqual(400);
        expect(runs(job.id, 'before')).toBe(1);
        expect(runs(job.id, 'after')).toBe(1);
        expect(end.attempt).toBe(1);
        const events = await collect(t.runtime, job.id);
        expect(events.map((e) => e.type)).toEqual([
          'enqueued',
          'started',
          'step.started',
          'step.completed',
          'waiting',
          'woken',
          'started',
          'step.replayed',
          'step.started',
          'step.completed',
          'succeeded',
        ]);
      });

      it('waitForSignal resolves with the payload; a signal sent before the wait is kept; each is used once', async () => {
        const { jobs } = t.runtime;
        const job = await jobs.enqueue('wf.approval', { twice: true });
        await jobs.signal(job.id, 'approve', { by: 'early' });
        const waiting = await waitFor(t.runtime, job.id, ['waiting']);
        expect(waiting.waitingFor).toEqual({ kind: 'signal', name: 'approve' });
        expect(runs(job.id, 'draft')).toBe(1);
        await jobs.signal(job.id, 'approve', { by: 'late' });
        const end = await waitFor(t.runtime, job.id, ['succeeded', 'dead']);
        expect(end.result).toEqual({ first: { by: 'early' }, second: { by: 'late' } });
        expect(runs(job.id, 'draft')).toBe(1);
        await expect(jobs.signal(job.id, 'approve', 1)).rejects.toMatchObject({ code: 'TL_ERR_JOB_STATE', httpStatus: 409 });
        await expect(jobs.signal(job.id, 'bad name!', 1)).rejects.toMatchObject({ code: 'TL_ERR_VALIDATION' });
      });

      it('waitForSignal throws TL_ERR_JOB_SIGNAL_TIMEOUT when nothing arrives in time', async () => {
        const job = await t.runtime.jobs.enqueue('wf.approval', { timeoutMs: 300 });
        expect((await waitFor(t.runtime, job.id, ['waiting'])).waitingFor).toMatchObject({ kind: 'signal', name: 'approve' });
        const end = await waitFor(t.runtime, job.id, ['succeeded', 'dead']);
        expect(end).toMatchObject({ state: 'dead', error: { code: 'TL_ERR_JOB_SIGNAL_TIMEOUT' } });
      });
    });

    describe('child jobs', () => {
      it('spawn + join: results in spawn order, child.started/child.ended in the parent stream, parent and children on the records', async () => {
        const { jobs } = t.runtime;
        const parent = await jobs.enqueue('wf.fanout', { n: 4, ms: 30 });
        const end = await waitFor(t.runtime, parent.id, ['succeeded', 'dead']);
        expect(end).toMatchObject({ state: 'succeeded', result: 60 });
        const view = await jobs.workflow(parent.id);
        expect(view.children).toHaveLength(4);
        for (const c of view.children) {
          expect(c).toMatchObject({ task: 'wf.child', state: 'succeeded' });
          expect((await jobs.get(c.id))!.parentId).toBe(parent.id);
        }
        const events = await collect(t.runtime, parent.id);
        expect(of(events, 'child.started').map((e) => (e.data as { id: string }).id)).toEqual(view.children.map((c) => c.id));
        expect(
          of(events, 'child.ended')
            .map((e) => (e.data as { id: string }).id)
            .sort(),
        ).toEqual(view.children.map((c) => c.id).sort());
        const journal = await jobs.engine.readJournal!(parent.id);
        const join = journal.find((e) => e.key === 'join:#0')!;
        expect(join.result).toEqual(view.children.map((c, i) => ({ id: c.id, state: 'succeeded', result: i * 10 })));
      });

      it('join with a failed child fails the parent (TL_ERR_JOB_CHILD_FAILED) unless failParentOnChildFailure is false', async () => {
        const { jobs } = t.runtime;
        const failing = await jobs.enqueue('wf.fanout', { n: 3, fail: [1] });
        const dead = await waitFor(t.runtime, failing.id, ['succeeded', 'dead']);
        expect(dead).toMatchObject({ state: 'dead', attempt: 1, error: { code: 'TL_ERR_JOB_CHILD_FAILED' } });
        expect(dead.error!.message).toContain('1 of 3');
        const tolerant = await jobs.enqueue('wf.fanout', { n: 3, fail: [1], failParent: false });
        expect(await waitFor(t.runtime, tolerant.id, ['succeeded', 'dead'])).toMatchObject({ state: 'succeeded', result: 20 });
        const view = await jobs.workflow(tolerant.id);
        expect(view.children.map((c) => c.state)).toEqual(['succeeded', 'dead', 'succeeded']);
      });

      it('cancelling a waiting parent cancels its children that have not ended', async () => {
        const { jobs } = t.runtime;
        const parent = await jobs.enqueue('wf.fanout', { n: 2, ms: 60_000 });
        await waitFor(t.runtime, parent.id, ['waiting']);
        const cancelled = await jobs.cancel(parent.id);
        expect(cancelled.state).toBe('cancelled');
        const view = await jobs.workflow(parent.id);
        expect(view.children).toHaveLength(2);
        for (const c of view.children) expect((await waitFor(t.runtime, c.id, ['cancelled'])).state).toBe('cancelled');
      });
    });
  });
}
