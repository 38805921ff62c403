import { describe, expect, it } from 'vitest';
import { fixture } from '../lanes/helpers.js';
import { testRuntime } from '../support/runtime.js';

/** Counts of each kind of active resource (handles, requests, ref'd timers) in this process. */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** Kinds whose count grew between two snapshots. */
function grown(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [kind, n] of after) if (n > (before.get(kind) ?? 0)) out[kind] = n - (before.get(kind) ?? 0);
  return out;
}

describe('runtime.close()', () => {
  it('leaves no active handle that the runtime opened (threads, ports, timers)', async () => {
    // process.stdout/stderr open their pipe on first use (a worker's output is forwarded to them);
    // they belong to the process, not to the runtime.
    void process.stdout;
    void process.stderr;
    const before = activeResources();
    const t = await testRuntime();
    const lanes = t.runtime.lanes;
    await Promise.all([
      lanes.run('data', fixture('resource'), { file: `${t.dir}/closed.txt`, ms: 10 }),
      lanes.run('io', fixture('progress'), { steps: 3 }, { host: { progress: () => undefined } }),
      lanes.run('ai', fixture('echo'), 'x'),
    ]);
    // Work still in flight when close starts must not leave anything behind either.
    const stuck = lanes.run('data', fixture('hang'), null).catch((err) => err);
    const during = activeResources();
    // The snapshot does see what lanes open (busy threads hold ref'd ports).
    expect(grown(before, during)).not.toEqual({});
    const threads = () => Object.values(lanes.stats()).reduce((n, s) => n + s.threads, 0);
    expect(threads()).toBeGreaterThanOrEqual(2);
    await t.runtime.close({ deadlineMs: 2_000 });
    expect((await stuck).code).toBe('TL_ERR_RUNTIME_CLOSED');
    await t.close();
    expect(threads()).toBe(0);
    // Piscina's own per-worker port can still be listed for a moment after its worker exited
    // (its 'close' event is queued): allow that, but a handle still there after 1 s is a leak.
    const deadline = performance.now() + 1_000;
    while (Object.keys(grown(before, activeResources())).length > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20).unref());
    }
    expect(grown(before, activeResources())).toEqual({});
  });
});
