/**
 * A parked job can be woken and claimed again by the same worker before the parked attempt's own
 * end has run: on Redis the park's last round trips (BullMQ letting go, the re-check for a wake
 * that came meanwhile) leave that window open. The new attempt must keep its place in the worker
 * loop (its lease renewed) when the old attempt's end runs after it. Here the store's answer to
 * park is held back 500 ms (as a slow Redis round trip would) while the wake scan wakes the job
 * and the worker claims it again; the new attempt then holds a step longer than its lease.
 */
import { afterEach, expect, it } from 'vitest';
import { defineTask } from '../../../src/jobs/task.js';
import type { TestRuntime } from '../../support/runtime.js';
import { collect, jobsRuntime } from '../helpers.js';

const napper = defineTask({
  name: 'test.napper',
  lane: 'jobs',
  async run(_input: unknown, ctx) {
    await ctx.sleep(1);
    // Longer than the lease (400 ms): only renewals keep this attempt's lease.
    await ctx.step('hold', () => new Promise((r) => setTimeout(r, 1_500)));
    return { ok: true };
  },
});

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

it('the attempt claimed while the parked one was still ending is renewed and finishes; no lease is lost', async () => {
  t = await jobsRuntime({ jobs: { leaseMs: 400 } });
  t.runtime.jobs.register(napper);
  const engine = t.runtime.jobs.engine;
  const park = engine.park!.bind(engine);
  let claimedMeanwhile = false;
  engine.park = async (...args) => {
    const record = await park(...args);
    const until = Date.now() + 5_000;
    // Hold the answer back until the wake scan has woken the job and the worker took it again.
    while (Date.now() < until && (await engine.get(record.id))?.state !== 'running') await new Promise((r) => setTimeout(r, 10));
    claimedMeanwhile = (await engine.get(record.id))?.state === 'running';
    return record;
  };
  const job = await t.runtime.jobs.enqueue('test.napper', null, { maxAttempts: 1 });
  const events = await collect(t.runtime, job.id, 0, 30_000);
  expect(claimedMeanwhile).toBe(true);
  expect(events.filter((e) => e.type === 'retrying' || e.type === 'dead').map((e) => e.data)).toEqual([]);
  expect(events.at(-1)).toMatchObject({ type: 'succeeded', data: { result: { ok: true } } });
}, 60_000);
