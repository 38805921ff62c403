import { afterEach, describe, expect, it } from 'vitest';
import cpuBurn from '../fixtures/tasks/cpu-burn.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { fixture } from './helpers.js';

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** Runs `work` while a 10 ms interval ticks on the main loop; returns the largest gap between ticks. */
async function largestGap(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 10);
  try {
    // Let the interval tick once before the work starts.
    await new Promise((resolve) => setTimeout(resolve, 30));
    await work();
    const now = performance.now();
    return Math.max(gap, now - last);
  } finally {
    clearInterval(timer);
  }
}

describe('CPU-bound work and the main event loop', () => {
  it('keeps the loop ticking while 4 tasks of 1 s burn CPU in a thread lane; the same work inline blocks it', async () => {
    t = await testRuntime();
    const lanes = t.runtime.lanes;
    // Start the threads first so that thread start-up is not part of the measure.
    await Promise.all(Array.from({ length: 4 }, () => lanes.run('data', fixture('cpu-burn'), { ms: 1 })));

    const started = performance.now();
    const threaded = await largestGap(() =>
      Promise.all(Array.from({ length: 4 }, () => lanes.run('data', fixture('cpu-burn'), { ms: 1_000 }))),
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_000);
    // Generous: the machine is shared and has 2 cores for 4 busy threads plus this loop.
    expect(threaded).toBeLessThan(300);

    const inline = await largestGap(async () => cpuBurn({ ms: 1_000 }));
    expect(inline).toBeGreaterThanOrEqual(950);
  });
});
