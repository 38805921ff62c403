import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { WorkContext } from '../../src/index.js';
import { DEFAULT_LANES } from '../../src/lanes/lanes.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { fixture, rejection, sleep } from './helpers.js';

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('runtime.lanes', () => {
  it('has the built-in ai, data and io lanes', async () => {
    t = await testRuntime();
    const stats = t.runtime.lanes.stats();
    expect(stats.ai).toMatchObject({ placement: 'loop', concurrency: 10 });
    expect(stats.data).toMatchObject({ placement: 'thread', concurrency: 4 });
    expect(stats.io).toMatchObject({ placement: 'thread', concurrency: 4 });
    expect(t.runtime.lanes.get('ai').options.timeoutMs).toBe(30_000);
    expect(t.runtime.lanes.get('data').options.timeoutMs).toBe(15_000);
    expect(t.runtime.lanes.get('io').options.timeoutMs).toBe(30_000);
    expect(Object.keys(DEFAULT_LANES)).toEqual(['ai', 'data', 'io']);
  });

  it('merges the lanes configuration over the defaults and adds configured lanes', async () => {
    t = await testRuntime({ lanes: { data: { concurrency: 2, timeoutMs: 1_000 }, reports: { placement: 'thread', concurrency: 3 } } });
    expect(t.runtime.lanes.get('data').options).toMatchObject({ placement: 'thread', concurrency: 2, timeoutMs: 1_000, maxQueue: 1000 });
    expect(t.runtime.lanes.get('reports').options).toMatchObject({
      placement: 'thread',
      concurrency: 3,
      maxQueue: 1000,
      timeoutMs: 30_000,
    });
    await expect(t.runtime.lanes.run('reports', fixture('echo', 'shout'), 'x')).resolves.toBe('X');
  });

  it('a configured lane without a default must say its placement', async () => {
    const err = await rejection(testRuntime({ lanes: { extra: { concurrency: 2 } } }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/lanes\.extra\.placement/);
  });

  it('lanes.add validates like the config and refuses duplicates', async () => {
    t = await testRuntime();
    const lanes = t.runtime.lanes;
    expect(() => lanes.add({ name: 'bad', placement: 'loop', concurrency: 0, maxQueue: 1, timeoutMs: 1 })).toThrow(
      /lane "bad"\.concurrency/,
    );
    expect(() => lanes.add({ name: 'ai', placement: 'loop', concurrency: 1, maxQueue: 1, timeoutMs: 1 })).toThrow(/already exists/);
  });

  it('an unknown lane rejects with TL_ERR_LANE_UNKNOWN listing the lanes', async () => {
    t = await testRuntime();
    const err = await rejection(t.runtime.lanes.run('nope', () => 1, null));
    expect(err.code).toBe('TL_ERR_LANE_UNKNOWN');
    expect(err.message).toMatch(/ai, data, io/);
  });

  it('exposes lane figures in Prometheus', async () => {
    t = await testRuntime();
    await t.runtime.lanes.run('ai', () => 'ok', null);
    await rejection(t.runtime.lanes.run('ai', () => Promise.reject(new Error('x')), null));
    await t.runtime.lanes.run('data', fixture('echo', 'shout'), 'y');
    const text = await t.runtime.metrics.metrics();
    expect(text).toMatch(/tasklane_lane_tasks_total\{lane="ai",outcome="completed"\} 1/);
    expect(text).toMatch(/tasklane_lane_tasks_total\{lane="ai",outcome="failed"\} 1/);
    expect(text).toMatch(/tasklane_lane_tasks_total\{lane="data",outcome="completed"\} 1/);
    expect(text).toMatch(/tasklane_lane_active\{lane="io"\} 0/);
    expect(text).toMatch(/tasklane_lane_queued\{lane="data"\} 0/);
    expect(text).toMatch(/tasklane_lane_run_ms\{lane="data",quantile="0.99"\} [0-9.]+/);
    expect(text).toMatch(/tasklane_lane_wait_ms\{lane="ai",quantile="0.5"\} [0-9.]+/);
  });

  it('close lets running work finish within the deadline, then stops what is left with ClosedError', async () => {
    t = await testRuntime();
    const lanes = t.runtime.lanes;
    const quick = lanes.run('ai', () => sleep(50).then(() => 'done'), null);
    const stuckLoop = rejection(
      lanes.run('ai', (_: null, ctx: WorkContext) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)), null),
    );
    const stuckThread = rejection(lanes.run('data', fixture('hang'), null));
    const started = performance.now();
    const report = await t.runtime.close({ deadlineMs: 1_500 });
    expect(performance.now() - started).toBeLessThan(2_500);
    expect(report.timedOut).toEqual([]);
    await expect(quick).resolves.toBe('done');
    expect((await stuckLoop).code).toBe('TL_ERR_RUNTIME_CLOSED');
    expect((await stuckThread).code).toBe('TL_ERR_RUNTIME_CLOSED');
    expect((await rejection(lanes.run('ai', () => 1, null))).code).toBe('TL_ERR_RUNTIME_CLOSED');
  });
});
