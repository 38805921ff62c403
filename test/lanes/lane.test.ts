import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, LaneFullError, LaneTimeoutError } from '../../src/errors.js';
import { TasklaneError, defineResource, type WorkContext } from '../../src/index.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { fixture, rejection, sleep } from './helpers.js';

let t: TestRuntime;
beforeEach(async () => {
  t = await testRuntime();
});
afterEach(async () => {
  await t.close();
});

function loopLane(over: Partial<{ concurrency: number; maxQueue: number; timeoutMs: number; queueTimeoutMs: number }> = {}) {
  return t.runtime.lanes.add({ name: 'test', placement: 'loop', concurrency: 2, maxQueue: 10, timeoutMs: 5_000, ...over });
}

describe('loop lane', () => {
  it('never runs more than `concurrency` tasks under 200 concurrent submissions, FIFO', async () => {
    const lane = loopLane({ concurrency: 3, maxQueue: 1000 });
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const work = async (i: number) => {
      order.push(i);
      running++;
      peak = Math.max(peak, running);
      await sleep(1 + (i % 3));
      running--;
      return i * 2;
    };
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => lane.run(work, i)));
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i * 2));
    expect(peak).toBe(3);
    expect(order).toEqual(Array.from({ length: 200 }, (_, i) => i));
    const s = lane.stats();
    expect(s).toMatchObject({ active: 0, queued: 0, completed: 200, failed: 0 });
    expect(s.waitMs.max).toBeGreaterThan(0);
    expect(s.runMs.p50).toBeGreaterThanOrEqual(1);
  });

  it('rejects with LaneFullError naming the lane once maxQueue tasks wait', async () => {
    const lane = loopLane({ concurrency: 1, maxQueue: 2 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const accepted = [lane.run(() => gate, 0), lane.run(() => 1, 0), lane.run(() => 2, 0)];
    const err = await rejection(lane.run(() => 3, 0));
    expect(err).toBeInstanceOf(LaneFullError);
    expect(err.code).toBe('TL_ERR_LANE_FULL');
    expect(err.details).toEqual({ lane: 'test', maxQueue: 2 });
    expect(lane.stats()).toMatchObject({ active: 1, queued: 2, rejected: 1 });
    release();
    await expect(Promise.all(accepted)).resolves.toEqual([undefined, 1, 2]);
  });

  it('maxQueue 0 rejects as soon as every slot is busy', async () => {
    const lane = loopLane({ concurrency: 1, maxQueue: 0 });
    const first = lane.run(() => sleep(20), 0);
    await expect(lane.run(() => 1, 0)).rejects.toBeInstanceOf(LaneFullError);
    await first;
  });

  it('times out a running task (phase running), aborting ctx.signal with the same error', async () => {
    const lane = loopLane({ timeoutMs: 100 });
    let seen: unknown;
    const started = performance.now();
    const err = await rejection(
      lane.run(
        (_: null, ctx: WorkContext) =>
          new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve((seen = ctx.signal.reason)))),
      ),
    );
    expect(err).toBeInstanceOf(LaneTimeoutError);
    expect(err.details).toMatchObject({ lane: 'test', timeoutMs: 100, phase: 'running' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(seen).toBe(err);
    expect(lane.stats()).toMatchObject({ timedOut: 1, active: 0 });
  });

  it('RunOptions.timeoutMs overrides the lane timeout', async () => {
    const lane = loopLane({ timeoutMs: 10_000 });
    const err = await rejection(lane.run(() => sleep(2_000), null, { timeoutMs: 50 }));
    expect(err.details).toMatchObject({ timeoutMs: 50, phase: 'running' });
  });

  it('times out a task that waits too long in the queue (phase queued) without running it', async () => {
    const lane = loopLane({ concurrency: 1, queueTimeoutMs: 80, timeoutMs: 5_000 });
    const blocker = lane.run(() => sleep(400), null);
    let ran = false;
    const err = await rejection(lane.run(() => (ran = true), null));
    expect(err).toBeInstanceOf(LaneTimeoutError);
    expect(err.details).toMatchObject({ phase: 'queued', timeoutMs: 80 });
    await blocker;
    expect(ran).toBe(false);
    expect(lane.stats()).toMatchObject({ timedOut: 1, completed: 1, queued: 0 });
  });

  it('abort while queued removes the task; abort while running aborts ctx.signal and rejects at once', async () => {
    const lane = loopLane({ concurrency: 1 });
    const runningCtl = new AbortController();
    const queuedCtl = new AbortController();
    let ranQueued = false;
    let runningSignal: AbortSignal | undefined;
    const running = lane.run((_: null, ctx: WorkContext) => ((runningSignal = ctx.signal), sleep(5_000)), null, {
      signal: runningCtl.signal,
    });
    const queued = lane.run(() => (ranQueued = true), null, { signal: queuedCtl.signal });
    queuedCtl.abort(new Error('user gave up'));
    const qErr = await rejection(queued);
    expect(qErr).toBeInstanceOf(AbortError);
    expect(qErr.message).toBe('user gave up');
    const started = performance.now();
    runningCtl.abort();
    const rErr = await rejection(running);
    expect(rErr.code).toBe('TL_ERR_ABORTED');
    expect(performance.now() - started).toBeLessThan(100);
    expect(runningSignal?.aborted).toBe(true);
    expect(ranQueued).toBe(false);
    expect(lane.stats()).toMatchObject({ aborted: 2, active: 0, queued: 0 });
    // The slot is free again.
    await expect(lane.run(() => 'next', null)).resolves.toBe('next');
  });

  it('rejects at once when the signal is already aborted', async () => {
    const lane = loopLane();
    let ran = false;
    await expect(lane.run(() => (ran = true), null, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(ran).toBe(false);
  });

  it('removes its abort listener once a task settles', async () => {
    const lane = loopLane();
    const ctl = new AbortController();
    const added: unknown[] = [];
    const removed: unknown[] = [];
    const add = ctl.signal.addEventListener.bind(ctl.signal);
    const remove = ctl.signal.removeEventListener.bind(ctl.signal);
    ctl.signal.addEventListener = ((type: string, fn: any, o?: any) => (added.push(fn), add(type, fn, o))) as typeof add;
    ctl.signal.removeEventListener = ((type: string, fn: any, o?: any) => (removed.push(fn), remove(type, fn, o))) as typeof remove;
    await lane.run(() => 1, null, { signal: ctl.signal });
    await rejection(lane.run(() => Promise.reject(new Error('x')), null, { signal: ctl.signal }));
    expect(added).toHaveLength(2);
    expect(removed).toEqual(added);
  });

  it('wraps a plain error as TL_ERR_TASK_FAILED keeping name, message and cause; tasklane errors pass through', async () => {
    const lane = loopLane();
    const original = new TypeError('not a number');
    const err = await rejection(lane.run(() => Promise.reject(original), null));
    expect(err).toBeInstanceOf(TasklaneError);
    expect(err).toMatchObject({ code: 'TL_ERR_TASK_FAILED', name: 'TypeError', message: 'not a number' });
    expect(err.cause).toBe(original);
    const own = new TasklaneError('TL_ERR_VALIDATION', 'bad');
    expect(
      await rejection(
        lane.run(() => {
          throw own;
        }, null),
      ),
    ).toBe(own);
    expect(lane.stats().failed).toBe(2);
  });

  it('runs a module ref on the loop, with context fields, progress and logs going to the host', async () => {
    const lane = loopLane();
    const events: unknown[] = [];
    const logs: string[] = [];
    const out = await lane.run(fixture('progress'), { steps: 3 }, { host: { progress: (d) => events.push(d), log: (m) => logs.push(m) } });
    expect(out).toEqual({ steps: 3 });
    expect(events).toEqual([
      { step: 1, of: 3 },
      { step: 2, of: 3 },
      { step: 3, of: 3 },
    ]);
    expect(logs).toEqual(['progress done']);
    const echoed = await lane.run(fixture('echo'), 'hi', { context: { jobId: 'job-1', attempt: 2 } });
    expect(echoed).toEqual({ input: 'hi', threadId: 0, jobId: 'job-1', attempt: 2 });
    await expect(lane.run(fixture('echo', 'shout'), 'hi')).resolves.toBe('HI');
    await expect(lane.run(fixture('echo', 'task'), 21)).resolves.toBe(42);
  });

  it('logs through the runtime logger with lane and context fields when there is no host.log', async () => {
    const lane = loopLane();
    await lane.run((_: null, ctx: WorkContext) => ctx.log('hello from work', { n: 1 }), null, { context: { jobId: 'j-9' } });
    const line = t.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'hello from work');
    expect(line).toMatchObject({ lane: 'test', jobId: 'j-9', n: 1 });
  });

  it('a host callback that throws is reported and never fails the task', async () => {
    const lane = loopLane();
    const reported: TasklaneError[] = [];
    t.runtime.on('error', (e) => reported.push(e));
    const out = await lane.run((_: null, ctx: WorkContext) => (ctx.progress(1), 'ok'), null, {
      host: {
        progress() {
          throw new Error('listener bug');
        },
      },
    });
    expect(out).toBe('ok');
    expect(reported.map((e) => e.message)).toEqual(['lane "test": host.progress threw: listener bug']);
  });

  it('gives loop work main-thread resources, created once, closed when the runtime closes', async () => {
    const lane = loopLane({ concurrency: 4 });
    let created = 0;
    let closed = 0;
    const db = defineResource({
      name: 'test.db',
      create: async () => {
        created++;
        await sleep(10);
        return { id: created };
      },
      close: () => {
        closed++;
      },
    });
    const ids = await Promise.all(
      Array.from({ length: 8 }, () => lane.run(async (_: null, ctx: WorkContext) => (await ctx.resource(db)).id, null)),
    );
    expect(ids).toEqual(Array(8).fill(1));
    await expect(lane.run(async (_: null, ctx: WorkContext) => (await ctx.resource<{ id: number }>('test.db')).id, null)).resolves.toBe(1);
    const unknown = await rejection(lane.run((_: null, ctx: WorkContext) => ctx.resource('nope'), null));
    expect(unknown.code).toBe('TL_ERR_RESOURCE_UNKNOWN');
    expect(created).toBe(1);
    await t.runtime.close();
    expect(closed).toBe(1);
  });

  it('ctx.ai throws a clear error when the runtime has no AI client', async () => {
    const lane = loopLane();
    const runtime = t.runtime as unknown as { ai?: unknown };
    const saved = runtime.ai;
    runtime.ai = undefined;
    try {
      const err = await rejection(lane.run((_: null, ctx: WorkContext) => ctx.ai.chat({ model: 'x', messages: [] }), null));
      expect(err.code).toBe('TL_ERR_RUNTIME_STATE');
      expect(err.message).toMatch(/no AI orchestrator/);
    } finally {
      runtime.ai = saved;
    }
  });

  it('rejects work after close with ClosedError', async () => {
    const lane = loopLane();
    await t.runtime.close();
    const err = await rejection(lane.run(() => 1, null));
    expect(err.code).toBe('TL_ERR_RUNTIME_CLOSED');
  });
});
