import { describe, expect, it, vi } from 'vitest';
import { fixture } from '../lanes/helpers.js';
import { testRuntime } from '../support/runtime.js';

describe('runtime.close() deadline', () => {
  it('returns within its deadline even when a closer hangs, reports it, and still closes the owners after it', async () => {
    const t = await testRuntime();
    const order: string[] = [];
    // Lanes registered first, so they close after the hung closer.
    await t.runtime.lanes.run('data', fixture('echo'), null);
    expect(t.runtime.lanes.stats().data!.threads).toBe(1);
    t.runtime.onClose('first', () => void order.push('first'));
    t.runtime.onClose('hangs', () => new Promise(() => undefined));
    t.runtime.onClose('last', () => void order.push('last'));
    const started = performance.now();
    const report = await t.runtime.close({ deadlineMs: 400 });
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(380);
    expect(took).toBeLessThan(1_200);
    expect(report.timedOut).toContain('hangs');
    // Reverse order; the closers after the hung one ran anyway, told to close at once.
    expect(order).toEqual(['last', 'first']);
    await vi.waitFor(() => expect(t.runtime.lanes.stats().data!.threads).toBe(0), { timeout: 2_000 });
    await t.close();
  });

  it('returns within its deadline while thread work ignores everything, and the threads are gone', async () => {
    const t = await testRuntime();
    const stuck = t.runtime.lanes.run('data', fixture('hang'), null).catch((err) => err);
    const ignoring = t.runtime.lanes.run('io', fixture('ignores-abort'), { ms: 60_000 }).catch((err) => err);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = performance.now();
    const report = await t.runtime.close({ deadlineMs: 800 });
    expect(performance.now() - started).toBeLessThan(1_600);
    expect(report.timedOut).toEqual([]);
    expect((await stuck).code).toBe('TL_ERR_RUNTIME_CLOSED');
    expect((await ignoring).code).toBe('TL_ERR_RUNTIME_CLOSED');
    expect(process.getActiveResourcesInfo().filter((k) => k === 'Worker')).toEqual([]);
    await t.close();
  });

  it('close() is idempotent: every call returns the same report', async () => {
    const t = await testRuntime();
    const a = t.runtime.close();
    const b = t.runtime.close({ deadlineMs: 1 });
    expect(a).toBe(b);
    await a;
    await t.close();
  });
});
