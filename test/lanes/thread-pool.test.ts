import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, LaneFullError, LaneTimeoutError } from '../../src/errors.js';
import { TasklaneError } from '../../src/index.js';
import type { LaneOptions } from '../../src/lanes/types.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { fixture, rejection } from './helpers.js';

let t: TestRuntime;
let dir: string;
beforeEach(async () => {
  t = await testRuntime();
  dir = mkdtempSync(join(tmpdir(), 'tasklane-lanes-'));
});
afterEach(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

function threadLane(over: Partial<LaneOptions> = {}) {
  return t.runtime.lanes.add({ name: 'threads', placement: 'thread', concurrency: 2, maxQueue: 100, timeoutMs: 10_000, ...over });
}

describe('thread lane', () => {
  it('runs module work in a worker thread with its input and context fields, by export name', async () => {
    const lane = threadLane();
    const out = await lane.run<{ input: unknown; threadId: number; jobId: unknown; attempt: unknown }>(
      fixture('echo'),
      { a: [1, 2] },
      { context: { jobId: 'j-1', attempt: 3 } },
    );
    expect(out.input).toEqual({ a: [1, 2] });
    expect(out.threadId).toBeGreaterThan(0);
    expect(out).toMatchObject({ jobId: 'j-1', attempt: 3 });
    await expect(lane.run(fixture('echo', 'shout'), 'quiet')).resolves.toBe('QUIET');
    await expect(lane.run(fixture('echo', 'task'), 4)).resolves.toBe(8);
  });

  it('never runs more than `concurrency` tasks at once under 200 concurrent submissions', async () => {
    const lane = threadLane({ concurrency: 3, maxQueue: 1000 });
    const counters = new Int32Array(new SharedArrayBuffer(8));
    const results = await Promise.all(Array.from({ length: 200 }, () => lane.run<number>(fixture('concurrency'), { counters, ms: 2 })));
    expect(results).toHaveLength(200);
    expect(Atomics.load(counters, 1)).toBeLessThanOrEqual(3);
    expect(Atomics.load(counters, 1)).toBeGreaterThanOrEqual(2); // the lane did run tasks side by side
    expect(Atomics.load(counters, 0)).toBe(0);
    expect(lane.stats()).toMatchObject({ completed: 200, active: 0, queued: 0, failed: 0 });
  });

  it('rejects with LaneFullError once maxQueue tasks wait', async () => {
    const lane = threadLane({ concurrency: 1, maxQueue: 1 });
    const counters = new Int32Array(new SharedArrayBuffer(8));
    const first = lane.run(fixture('concurrency'), { counters, ms: 200 });
    const second = lane.run(fixture('concurrency'), { counters, ms: 1 });
    const err = await rejection(lane.run(fixture('concurrency'), { counters, ms: 1 }));
    expect(err).toBeInstanceOf(LaneFullError);
    expect(err.details).toEqual({ lane: 'threads', maxQueue: 1 });
    await Promise.all([first, second]);
  });

  it('terminates a task past its timeout (phase running) and replaces the thread', async () => {
    // Thread start-up is not what is timed here: warm up under the lane's generous timeout.
    const lane = threadLane({ concurrency: 1 });
    const before = await lane.run<{ threadId: number }>(fixture('echo'), null);
    const started = performance.now();
    const err = await rejection(lane.run(fixture('hang'), null, { timeoutMs: 300 }));
    expect(err).toBeInstanceOf(LaneTimeoutError);
    expect(err.details).toMatchObject({ lane: 'threads', phase: 'running', timeoutMs: 300 });
    expect(performance.now() - started).toBeLessThan(3_000);
    const after = await lane.run<{ threadId: number }>(fixture('echo'), null);
    expect(after.threadId).not.toBe(before.threadId);
    expect(lane.stats()).toMatchObject({ timedOut: 1, completed: 2, active: 0 });
  });

  it('times out a task waiting in the queue (phase queued) without running it', async () => {
    const lane = threadLane({ concurrency: 1, timeoutMs: 1_500, queueTimeoutMs: 150 });
    const blocker = lane.run(fixture('hang'), null);
    const counters = new Int32Array(new SharedArrayBuffer(8));
    const err = await rejection(lane.run(fixture('concurrency'), { counters, ms: 1 }));
    expect(err.details).toMatchObject({ phase: 'queued', timeoutMs: 150 });
    expect(Atomics.load(counters, 1)).toBe(0);
    expect((await rejection(blocker)).details.phase).toBe('running');
  });

  it('abort while queued never runs it; abort while running terminates the thread at once by default', async () => {
    const lane = threadLane({ concurrency: 1 });
    const runCtl = new AbortController();
    const queueCtl = new AbortController();
    const counters = new Int32Array(new SharedArrayBuffer(8));
    const running = lane.run(fixture('hang'), null, { signal: runCtl.signal });
    const queued = lane.run(fixture('concurrency'), { counters, ms: 1 }, { signal: queueCtl.signal });
    queueCtl.abort();
    expect(await rejection(queued)).toBeInstanceOf(AbortError);
    const started = performance.now();
    runCtl.abort(new Error('stop it'));
    const err = await rejection(running);
    expect(err).toBeInstanceOf(AbortError);
    expect(err.message).toBe('stop it');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(Atomics.load(counters, 1)).toBe(0);
    await expect(lane.run(fixture('echo', 'shout'), 'still works')).resolves.toBe('STILL WORKS');
    expect(lane.stats()).toMatchObject({ aborted: 2, active: 0, queued: 0 });
  });

  it('with abortGraceMs, the thread sees ctx.signal abort over its port and stops by itself (thread kept)', async () => {
    const lane = threadLane({ concurrency: 1 });
    const file = join(dir, 'aborts.txt');
    const { threadId } = await lane.run<{ threadId: number }>(fixture('echo'), null);
    const ctl = new AbortController();
    const running = lane.run(fixture('respects-abort'), { file }, { signal: ctl.signal, abortGraceMs: 5_000 });
    // Abort as soon as the task is on its thread (the abort message is broadcast; early ones wait for their task).
    setTimeout(() => ctl.abort(), 50);
    const err = await rejection(running);
    expect(err.code).toBe('TL_ERR_ABORTED');
    expect(readFileSync(file, 'utf8')).toBe('TL_ERR_ABORTED\n');
    const again = await lane.run<{ threadId: number }>(fixture('echo'), null);
    expect(again.threadId).toBe(threadId);
  });

  it('an abort that reaches the thread before its task still aborts it', async () => {
    const lane = threadLane({ concurrency: 1 });
    const file = join(dir, 'early.txt');
    const ctl = new AbortController();
    const running = lane.run(fixture('respects-abort'), { file }, { signal: ctl.signal, abortGraceMs: 5_000 });
    const started = performance.now();
    ctl.abort();
    expect((await rejection(running)).code).toBe('TL_ERR_ABORTED');
    // Stopped by the task itself, not by the grace timer terminating the thread.
    expect(performance.now() - started).toBeLessThan(4_000);
    expect(readFileSync(file, 'utf8')).toBe('TL_ERR_ABORTED\n');
  });

  it('terminates a task that ignores the abort once abortGraceMs has passed', async () => {
    const lane = threadLane({ concurrency: 1 });
    await lane.run(fixture('echo'), null);
    const ctl = new AbortController();
    const running = lane.run(fixture('hang'), null, { signal: ctl.signal, abortGraceMs: 250 });
    setTimeout(() => ctl.abort(), 20);
    const started = performance.now();
    const err = await rejection(running);
    const took = performance.now() - started;
    expect(err.code).toBe('TL_ERR_ABORTED');
    expect(took).toBeGreaterThanOrEqual(240);
    expect(took).toBeLessThan(3_000);
  });

  it('a throw outside the promise rejects only that task with TL_ERR_LANE_THREAD_CRASHED; the thread is replaced', async () => {
    const lane = threadLane({ concurrency: 3 });
    const counters = new Int32Array(new SharedArrayBuffer(8));
    const others = [lane.run(fixture('concurrency'), { counters, ms: 400 }), lane.run(fixture('concurrency'), { counters, ms: 400 })];
    const err = await rejection(lane.run(fixture('crash'), null));
    expect(err).toBeInstanceOf(TasklaneError);
    expect(err.code).toBe('TL_ERR_LANE_THREAD_CRASHED');
    expect(err.details).toMatchObject({ lane: 'threads', reason: 'crash' });
    expect(err.message).toMatch(/boom outside the promise/);
    await expect(Promise.all(others)).resolves.toHaveLength(2);
    await expect(lane.run(fixture('echo', 'shout'), 'ok')).resolves.toBe('OK');
    expect(lane.stats()).toMatchObject({ failed: 1, completed: 3 });
  });

  it('process.exit in a task ends only its thread and rejects only that task', async () => {
    const lane = threadLane();
    const err = await rejection(lane.run(fixture('exit'), { code: 7 }));
    expect(err.code).toBe('TL_ERR_LANE_THREAD_CRASHED');
    expect(err.message).toMatch(/exited with code: 7/);
    await expect(lane.run(fixture('echo', 'shout'), 'alive')).resolves.toBe('ALIVE');
  });

  it('out of memory under maxOldGenerationSizeMb rejects with reason out-of-memory and the lane recovers', async () => {
    const lane = threadLane({ concurrency: 1, maxOldGenerationSizeMb: 32, timeoutMs: 20_000 });
    const err = await rejection(lane.run(fixture('oom'), null));
    expect(err.code).toBe('TL_ERR_LANE_THREAD_CRASHED');
    expect(err.details.reason).toBe('out-of-memory');
    await expect(lane.run(fixture('echo', 'shout'), 'recovered')).resolves.toBe('RECOVERED');
  });

  it('errors thrown by the task cross the thread with their code, name and message', async () => {
    const lane = threadLane();
    const plain = await rejection(lane.run(fixture('fail'), { kind: 'plain' }));
    expect(plain).toMatchObject({ code: 'TL_ERR_TASK_FAILED', message: 'task failed on purpose' });
    expect(plain.stack).toMatch(/fail\.ts/);
    const typed = await rejection(lane.run(fixture('fail'), { kind: 'type' }));
    expect(typed).toMatchObject({ code: 'TL_ERR_TASK_FAILED', name: 'TypeError', message: 'not a number' });
    const own = await rejection(lane.run(fixture('fail'), { kind: 'non-retryable' }));
    expect(TasklaneError.isInstance(own)).toBe(true);
    expect(own).toMatchObject({ code: 'TL_ERR_JOB_NON_RETRYABLE', name: 'NonRetryableError', retryable: false, details: { field: 'x' } });
    expect(lane.stats().failed).toBe(3);
  });

  it('delivers every progress event in order, and all of them before the result', async () => {
    const lane = threadLane();
    const events: Array<{ step: number }> = [];
    const logs: Array<[string, unknown]> = [];
    let settled = false;
    const out = await lane
      .run(
        fixture('progress'),
        { steps: 500, yieldEvery: 50 },
        { host: { progress: (d) => (settled ? null : events.push(d as { step: number })), log: (m, d) => logs.push([m, d]) } },
      )
      .finally(() => (settled = true));
    expect(out).toEqual({ steps: 500 });
    expect(events.map((e) => e.step)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(logs).toEqual([['progress done', { steps: 500 }]]);
  });

  it('logs from a thread go to the runtime logger with lane and context fields when there is no host', async () => {
    const lane = threadLane();
    await lane.run(fixture('progress'), { steps: 1 }, { context: { jobId: 'j-42' } });
    const line = t.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'progress done');
    expect(line).toMatchObject({ lane: 'threads', jobId: 'j-42', steps: 1 });
  });

  it('refuses work a thread cannot run with TL_ERR_LANE_INVALID_WORK', async () => {
    const lane = threadLane();
    expect((await rejection(lane.run(() => 1, null))).code).toBe('TL_ERR_LANE_INVALID_WORK');
    expect((await rejection(lane.run({ module: join(dir, 'missing.ts') }, null))).code).toBe('TL_ERR_LANE_INVALID_WORK');
    expect((await rejection(lane.run(fixture('echo', 'nope'), null))).code).toBe('TL_ERR_LANE_INVALID_WORK');
    const notClonable = await rejection(lane.run(fixture('echo'), { fn: () => 1 }));
    expect(notClonable.code).toBe('TL_ERR_LANE_INVALID_WORK');
    await expect(lane.run(fixture('echo', 'shout'), 'fine')).resolves.toBe('FINE');
  });
});
