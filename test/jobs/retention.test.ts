import { afterEach, describe, expect, it } from 'vitest';
import { jobsRuntime, waitFor } from './helpers.js';
import type { TestRuntime } from '../support/runtime.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('job retention (jobs.retention)', () => {
  let t: TestRuntime | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('deletes succeeded jobs after succeededMs and failed ones after failedMs, never unended ones', async () => {
    t = await jobsRuntime({ jobs: { retention: { succeededMs: 300, failedMs: 1_200, everyMs: 50 } } });
    const jobs = t.runtime.jobs;
    const ok = await jobs.enqueue('test.noop', {});
    const dead = await jobs.enqueue('test.non-retryable', {});
    const later = await jobs.enqueue('test.noop', {}, { delayMs: 60_000 });
    await waitFor(t.runtime, ok.id, ['succeeded']);
    await waitFor(t.runtime, dead.id, ['dead']);
    // Gone once past its age, with its events; the dead one is still there.
    const until = Date.now() + 5_000;
    while ((await jobs.get(ok.id)) && Date.now() < until) await sleep(50);
    expect(await jobs.get(ok.id)).toBeUndefined();
    const deadRecord = await jobs.get(dead.id);
    expect(deadRecord?.state).toBe('dead');
    expect(Date.now() - deadRecord!.finishedAt!).toBeLessThan(1_200);
    // Then the dead one goes too; the delayed job stays.
    while ((await jobs.get(dead.id)) && Date.now() < until + 5_000) await sleep(50);
    expect(await jobs.get(dead.id)).toBeUndefined();
    expect((await jobs.get(later.id))?.state).toBe('delayed');
    expect(t.logs.text).not.toMatch(/"level":50/);
  });

  it('keeps everything with 0, and a round deletes nothing then', async () => {
    t = await jobsRuntime({ jobs: { retention: { succeededMs: 0, failedMs: 0 } } });
    const ok = await t.runtime.jobs.enqueue('test.noop', {});
    await waitFor(t.runtime, ok.id, ['succeeded']);
    const retention = (t.runtime.jobs as unknown as { retention: { enabled: boolean; runOnce(now?: number): Promise<number> } }).retention;
    expect(retention.enabled).toBe(false);
    expect(await retention.runOnce(Date.now() + 365 * 86_400_000)).toBe(0);
    expect((await t.runtime.jobs.get(ok.id))?.state).toBe('succeeded');
  });
});
