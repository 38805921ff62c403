import { afterEach, describe, expect, it } from 'vitest';
import { collect, expectConsecutive, jobsRuntime, waitFor } from './helpers.js';
import type { TestRuntime } from '../support/runtime.js';

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('enqueue', () => {
  it('validates input with the task schema and names unknown tasks', async () => {
    t = await jobsRuntime();
    await expect(t.runtime.jobs.enqueue('demo.progress', { steps: 'many' })).rejects.toMatchObject({
      code: 'TL_ERR_VALIDATION',
      message: expect.stringContaining('steps'),
    });
    await expect(t.runtime.jobs.enqueue('no.such.task', {})).rejects.toMatchObject({
      code: 'TL_ERR_JOB_UNKNOWN_TASK',
      message: expect.stringContaining('demo.progress'),
    });
    await expect(t.runtime.jobs.enqueue('test.noop', {}, { maxAttempts: 0 })).rejects.toMatchObject({ code: 'TL_ERR_VALIDATION' });
    await expect(t.runtime.jobs.list({ limit: 501 })).rejects.toMatchObject({ code: 'TL_ERR_VALIDATION' });
    // Schema defaults are applied to the stored input.
    const job = await t.runtime.jobs.enqueue('demo.progress', { steps: 1 });
    expect(job.input).toEqual({ steps: 1, ms: 100 });
    expect(t.runtime.jobs.tasks()).toEqual(
      expect.arrayContaining([
        { name: 'demo.progress', lane: 'demo' },
        { name: 'demo.cpu', lane: 'data' },
        { name: 'test.noop', lane: 'jobs' },
      ]),
    );
    expect(t.runtime.jobs.ready()).toBe(true);
  });

  it('returns the same job for the same idempotency key', async () => {
    t = await jobsRuntime();
    const a = await t.runtime.jobs.enqueue('test.sleep', { ms: 10, label: 'first' }, { idempotencyKey: 'order-42' });
    const b = await t.runtime.jobs.enqueue('test.sleep', { ms: 10, label: 'second' }, { idempotencyKey: 'order-42' });
    expect(b.id).toBe(a.id);
    const done = await waitFor(t.runtime, a.id, ['succeeded']);
    expect(done.result).toMatchObject({ label: 'first' });
    const c = await t.runtime.jobs.enqueue('test.sleep', { ms: 10 }, { idempotencyKey: 'order-42' });
    expect(c).toMatchObject({ id: a.id, state: 'succeeded' });
    expect((await t.runtime.jobs.list({ task: 'test.sleep' })).jobs).toHaveLength(1);
  });

  it('runs higher priority first and waits for a delay', async () => {
    t = await jobsRuntime({ lanes: { jobs: { placement: 'loop', concurrency: 1 } }, jobs: { worker: true } });
    const blocker = await t.runtime.jobs.enqueue('test.sleep', { ms: 200 });
    await waitFor(t.runtime, blocker.id, ['running']);
    const low = await t.runtime.jobs.enqueue('test.sleep', { ms: 1, label: 'low' });
    const high = await t.runtime.jobs.enqueue('test.sleep', { ms: 1, label: 'high' }, { priority: 10 });
    const delayed = await t.runtime.jobs.enqueue('test.sleep', { ms: 1, label: 'delayed' }, { delayMs: 600, priority: 100 });
    expect(delayed.state).toBe('delayed');
    const [l, h, d] = await Promise.all([low, high, delayed].map((j) => waitFor(t!.runtime, j.id, ['succeeded'])));
    expect(h!.startedAt!).toBeLessThanOrEqual(l!.startedAt!);
    expect(d!.startedAt! - delayed.createdAt).toBeGreaterThanOrEqual(590);
  });
});

describe('metrics', () => {
  it('counts enqueues and attempts by task and outcome, and running attempts', async () => {
    t = await jobsRuntime();
    const ok = await t.runtime.jobs.enqueue('test.noop', {});
    const bad = await t.runtime.jobs.enqueue('test.non-retryable', {});
    await waitFor(t.runtime, ok.id, ['succeeded']);
    await waitFor(t.runtime, bad.id, ['dead']);
    await new Promise((r) => setTimeout(r, 50));
    const text = await t.runtime.metrics.metrics();
    expect(text).toContain('tasklane_jobs_enqueued_total{task="test.noop"} 1');
    expect(text).toContain('tasklane_job_attempts_total{task="test.noop",outcome="succeeded"} 1');
    expect(text).toContain('tasklane_job_attempts_total{task="test.non-retryable",outcome="dead"} 1');
    expect(text).toMatch(/tasklane_jobs_running 0/);
  });
});

describe('retries', () => {
  it('retries with exponential backoff, then succeeds; the stream shows every attempt', async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('test.flaky', { failures: 2 });
    const events = await collect(t.runtime, job.id);
    expectConsecutive(events);
    expect(events.map((e) => e.type)).toEqual(['enqueued', 'started', 'retrying', 'started', 'retrying', 'started', 'succeeded']);
    const retrying = events.filter((e) => e.type === 'retrying');
    const starts = events.filter((e) => e.type === 'started');
    // Backoff: 100 ms after attempt 1, 200 ms after attempt 2 (baseMs 100, factor 2, no jitter). runAt is
    // set when the attempt fails, which is after its start and before its retrying event is stamped, so
    // these bounds pin the delay however slow the machine; and no attempt starts before its runAt.
    for (const [i, delay] of [100, 200].entries()) {
      const runAt = (retrying[i]!.data as { runAt: number }).runAt;
      expect(runAt - starts[i]!.at).toBeGreaterThanOrEqual(delay);
      expect(runAt - retrying[i]!.at).toBeLessThanOrEqual(delay);
      expect(starts[i + 1]!.at).toBeGreaterThanOrEqual(runAt);
    }
    expect(retrying[0]!.data).toMatchObject({ error: { code: 'TL_ERR_TASK_FAILED', message: 'attempt 1 fails on purpose' } });
    expect(await t.runtime.jobs.get(job.id)).toMatchObject({ state: 'succeeded', attempt: 3, result: { attempt: 3 } });
  });

  it('is dead after its last attempt and can be retried by hand', async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('test.flaky', { failures: 3 }, { maxAttempts: 2 });
    const dead = await waitFor(t.runtime, job.id, ['dead']);
    expect(dead).toMatchObject({ attempt: 2, error: { code: 'TL_ERR_TASK_FAILED' } });
    await expect(t.runtime.jobs.retry(job.id)).resolves.toMatchObject({ state: 'queued', attempt: 0 });
    // Attempts restart at 1: with failures 3 and maxAttempts 2 it dies again, after two more attempts.
    const again = await waitFor(t.runtime, job.id, ['dead']);
    expect(again.attempt).toBe(2);
    const types = (await t.runtime.jobs.engine.readEvents(job.id, 0)).map((e) => e.type);
    expect(types).toEqual(['enqueued', 'started', 'retrying', 'started', 'dead', 'enqueued', 'started', 'retrying', 'started', 'dead']);
    await expect(t.runtime.jobs.retry('missing')).rejects.toMatchObject({ code: 'TL_ERR_JOB_NOT_FOUND' });
  });

  it('an attempt past the task timeoutMs fails and is retried, then the job is dead', async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('test.too-slow', {});
    const events = await collect(t.runtime, job.id);
    expect(events.map((e) => e.type)).toEqual(['enqueued', 'started', 'retrying', 'started', 'dead']);
    expect(events.at(-1)!.data).toMatchObject({ error: { code: 'TL_ERR_LANE_TIMEOUT' } });
    const started = events.filter((e) => e.type === 'started');
    const ended = events.filter((e) => e.type === 'retrying' || e.type === 'dead');
    for (let i = 0; i < 2; i++) expect(ended[i]!.at - started[i]!.at).toBeLessThan(5_000);
  });

  it('NonRetryableError skips the remaining attempts', async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('test.non-retryable', {});
    const dead = await waitFor(t.runtime, job.id, ['dead']);
    expect(dead).toMatchObject({ attempt: 1, maxAttempts: 5, error: { code: 'TL_ERR_JOB_NON_RETRYABLE' } });
  });
});

describe('cancel', () => {
  it('cancels a queued job at once', async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('test.noop', {}, { delayMs: 60_000 });
    const cancelled = await t.runtime.jobs.cancel(job.id);
    expect(cancelled.state).toBe('cancelled');
    expect((await collect(t.runtime, job.id)).map((e) => e.type)).toEqual(['enqueued', 'cancelled']);
    await expect(t.runtime.jobs.cancel(job.id)).rejects.toMatchObject({ code: 'TL_ERR_JOB_STATE' });
  });

  it('aborts a job running on the loop', async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('test.wait-for-cancel', {});
    const stream = collect(t.runtime, job.id);
    await waitFor(t.runtime, job.id, ['running']);
    await t.runtime.jobs.cancel(job.id);
    const events = await stream;
    expect(events.map((e) => e.type)).toEqual(['enqueued', 'started', 'progress', 'cancel-requested', 'cancelled']);
    expect(await t.runtime.jobs.get(job.id)).toMatchObject({ state: 'cancelled', attempt: 1 });
  });

  it('terminates a thread task that ignores its signal after cancelGraceMs', async () => {
    t = await jobsRuntime({ jobs: { cancelGraceMs: 300 } });
    const job = await t.runtime.jobs.enqueue('test.thread-ignores-cancel', {});
    const stream = collect(t.runtime, job.id);
    // Wait until it really spins in its thread.
    for await (const e of t.runtime.jobs.subscribe(job.id, 0, { signal: AbortSignal.timeout(15_000) })) if (e.type === 'progress') break;
    const asked = Date.now();
    await t.runtime.jobs.cancel(job.id);
    const events = await stream;
    const tookMs = Date.now() - asked;
    expect(events.map((e) => e.type)).toEqual(['enqueued', 'started', 'progress', 'cancel-requested', 'cancelled']);
    expect(tookMs).toBeGreaterThanOrEqual(250);
    expect(tookMs).toBeLessThan(10_000);
    // The lane slot is free again: another thread job runs.
    const next = await t.runtime.jobs.enqueue('test.thread-progress', { n: 3 });
    await waitFor(t.runtime, next.id, ['succeeded']);
  });
});

describe('event streams', () => {
  it('a late subscriber replays from seq 0, a mid subscriber from its seq; two subscribers see the same sequence', async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('test.burst', { n: 300 });
    const [a, b] = await Promise.all([collect(t.runtime, job.id), collect(t.runtime, job.id)]);
    expect(a).toEqual(b);
    expectConsecutive(a);
    const late = await collect(t.runtime, job.id, 0);
    expect(late).toEqual(a);
    const mid = await collect(t.runtime, job.id, 100);
    expect(mid).toEqual(a.slice(100));
    expect(await collect(t.runtime, job.id, a.length)).toEqual([]);
    await expect(collect(t.runtime, 'missing')).rejects.toMatchObject({ code: 'TL_ERR_JOB_NOT_FOUND' });
  });

  it('10,000 progress events arrive in order, to a subscriber that joins mid-run too', async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('test.burst', { n: 10_000 });
    const early = collect(t.runtime, job.id);
    await waitFor(t.runtime, job.id, ['running', 'succeeded']);
    const joined = collect(t.runtime, job.id, 0);
    const [x, y] = await Promise.all([early, joined]);
    expect(x).toHaveLength(10_003);
    expectConsecutive(x);
    expect(y).toEqual(x);
    const progress = x.filter((e) => e.type === 'progress').map((e) => (e.data as { i: number }).i);
    expect(progress).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
    expect((await t.runtime.jobs.get(job.id))!.progress).toEqual({ i: 10_000 });
  });

  it('coalesces progress when the task asks, never status or log events', async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('test.coalesced', { n: 1000 });
    const events = await collect(t.runtime, job.id);
    expectConsecutive(events);
    const progress = events.filter((e) => e.type === 'progress').map((e) => (e.data as { i: number }).i);
    expect(events.filter((e) => e.type === 'log')).toHaveLength(10);
    expect(progress.length).toBeLessThan(500);
    expect(progress.at(-1)).toBe(1000);
    expect([...progress].sort((p, q) => p - q)).toEqual(progress);
    expect(events.at(-1)!.type).toBe('succeeded');
  });

  it("a thread task's ctx.progress reaches subscribers in order", async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('test.thread-progress', { n: 2_000 });
    const events = await collect(t.runtime, job.id);
    expectConsecutive(events);
    expect(events.filter((e) => e.type === 'progress').map((e) => (e.data as { i: number }).i)).toEqual(
      Array.from({ length: 2_000 }, (_, i) => i + 1),
    );
    const result = events.at(-1)!.data as { result: { threadId: number } };
    expect(result.result.threadId).toBeGreaterThan(0);
  });

  it('demo.cpu runs in a thread with progress every 10 %', async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('demo.cpu', { ms: 300 });
    const events = await collect(t.runtime, job.id);
    expect(events.filter((e) => e.type === 'progress').map((e) => (e.data as { percent: number }).percent)).toEqual([
      10, 20, 30, 40, 50, 60, 70, 80, 90, 100,
    ]);
    expect(events.at(-1)!.type).toBe('succeeded');
  });

  it('a subscriber that reads nothing until the end still gets every event (beyond its buffer, from the store)', async () => {
    t = await jobsRuntime();
    const job = await t.runtime.jobs.enqueue('test.burst', { n: 12_000 });
    const it = t.runtime.jobs.subscribe(job.id, 0, { signal: AbortSignal.timeout(30_000) })[Symbol.asyncIterator]();
    await waitFor(t.runtime, job.id, ['succeeded'], 30_000);
    const events = [];
    for (let r = await it.next(); !r.done; r = await it.next()) events.push(r.value);
    expect(events).toHaveLength(12_003);
    expectConsecutive(events);
    expect(events.at(-1)!.type).toBe('succeeded');
  });
});

describe('leases', () => {
  it('a thread task spinning longer than the lease keeps it: renewals run on the main thread', async () => {
    t = await jobsRuntime({ jobs: { leaseMs: 600 } });
    const job = await t.runtime.jobs.enqueue('demo.cpu', { ms: 2_000 });
    const events = await collect(t.runtime, job.id, 0, 30_000);
    expect(events.map((e) => e.type).filter((x) => x !== 'progress')).toEqual(['enqueued', 'started', 'succeeded']);
    expect(await t.runtime.jobs.get(job.id)).toMatchObject({ state: 'succeeded', attempt: 1 });
  });

  it('close gives running jobs back within the deadline and the next runtime finishes them', async () => {
    t = await jobsRuntime({ closeDeadlineMs: 800 });
    const job = await t.runtime.jobs.enqueue('test.wait-for-cancel', {}, { maxAttempts: 1 });
    await waitFor(t.runtime, job.id, ['running']);
    const started = Date.now();
    await t.runtime.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    const { SqliteJobEngine } = await import('../../src/jobs/engines/sqlite/sqlite-engine.js');
    const { join } = await import('node:path');
    const engine = new SqliteJobEngine({ path: join(t.dir, 'tasklane.db') });
    try {
      expect(await engine.get(job.id)).toMatchObject({ state: 'queued', attempt: 0 });
      const types = (await engine.readEvents(job.id, 0)).map((e) => e.type);
      expect(types).toEqual(['enqueued', 'started', 'progress', 'retrying']);
    } finally {
      await engine.close();
    }
  });
});
