/**
 * The job system on the Redis engine, two runtimes (two workers' views) on one Redis: runs, ordered
 * streams followed from the other runtime, cancel across runtimes, retries with backoff, thread
 * progress, and graceful release to the other worker on close.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/index.js';
import type { TestRuntime } from '../support/runtime.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../support/redis.js';
import { collect, expectConsecutive, jobsRuntime, waitFor } from './helpers.js';

const prefix = testPrefix('jobs');
const store: ConfigInput['store'] = { engine: 'redis', url: REDIS_URL, prefix };
const open: TestRuntime[] = [];

async function node(config: ConfigInput = {}): Promise<TestRuntime> {
  const t = await jobsRuntime({ store, ...config });
  open.push(t);
  return t;
}

describe('jobs on the Redis engine', () => {
  beforeAll(() => requireRedis());
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
  });
  afterAll(() => deleteKeys(prefix));

  it('runs a job with an ordered stream, followed live from a runtime that does not run it', async () => {
    const api = await node({ jobs: { worker: false } });
    const worker = await node();
    expect(api.runtime.jobs.ready()).toBe(true);
    const job = await api.runtime.jobs.enqueue('test.sleep', { ms: 600 });
    const events = await collect(api.runtime, job.id);
    expectConsecutive(events);
    expect(events[0]!.type).toBe('enqueued');
    expect(events.at(-1)).toMatchObject({ type: 'succeeded', data: { result: { slept: 600, attempt: 1 } } });
    expect(events.filter((e) => e.type === 'progress').length).toBeGreaterThan(5);
    const done = await api.runtime.jobs.get(job.id);
    expect(done).toMatchObject({ state: 'succeeded', workerId: worker.runtime.jobs.workerId });
    // Late subscribers replay from any seq.
    expect(await collect(api.runtime, job.id, 3)).toEqual(events.slice(3));
  });

  it('a cancel from one runtime aborts the job running in the other', async () => {
    const api = await node({ jobs: { worker: false } });
    await node();
    const job = await api.runtime.jobs.enqueue('test.wait-for-cancel', {});
    await waitFor(api.runtime, job.id, ['running']);
    const t0 = Date.now();
    expect((await api.runtime.jobs.cancel(job.id)).state).toBe('running');
    const end = await waitFor(api.runtime, job.id, ['cancelled'], 10_000);
    // Pub/sub reaches the holder at once (see the engine test); renew is the fallback.
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(end.error?.code).toBe('TL_ERR_JOB_CANCELLED');
    const types = (await collect(api.runtime, job.id)).map((e) => e.type);
    expect(types).toEqual(['enqueued', 'started', 'progress', 'cancel-requested', 'cancelled']);
  });

  it('retries with backoff, then succeeds; thread progress is stored in order', async () => {
    const w = await node();
    const flaky = await w.runtime.jobs.enqueue('test.flaky', { failures: 2 });
    const events = await collect(w.runtime, flaky.id);
    expectConsecutive(events);
    expect(events.map((e) => e.type)).toEqual(['enqueued', 'started', 'retrying', 'started', 'retrying', 'started', 'succeeded']);
    expect(await w.runtime.jobs.get(flaky.id)).toMatchObject({ state: 'succeeded', attempt: 3, result: { attempt: 3 } });
    const t = await w.runtime.jobs.enqueue('test.thread-progress', { n: 300 });
    const tev = await collect(w.runtime, t.id);
    expectConsecutive(tev);
    expect(tev.filter((e) => e.type === 'progress').map((e) => (e.data as { i: number }).i)).toEqual(
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
  });

  it('closing a worker gives its running job back; the other worker finishes it', async () => {
    // A long lease: the hand-over must come from the release, not from an expired lease (a loop
    // stalled by the noisy machine must not turn it into a recovery).
    const a = await node({ closeDeadlineMs: 2_000, jobs: { leaseMs: 15_000 } });
    const job = await a.runtime.jobs.enqueue('test.sleep', { ms: 3_000, label: 'handover' });
    const running = await waitFor(a.runtime, job.id, ['running']);
    expect(running.workerId).toBe(a.runtime.jobs.workerId);
    const b = await node({ jobs: { leaseMs: 15_000 } });
    await a.close();
    open.splice(open.indexOf(a), 1);
    const end = await waitFor(b.runtime, job.id, ['succeeded'], 15_000);
    expect(end).toMatchObject({ workerId: b.runtime.jobs.workerId, attempt: 1 });
    const events = await collect(b.runtime, job.id);
    expectConsecutive(events);
    expect(events.filter((e) => e.type === 'retrying').map((e) => (e.data as { released?: boolean }).released)).toEqual([true]);
  });
});
