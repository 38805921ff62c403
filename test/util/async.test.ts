import { describe, expect, it } from 'vitest';
import { AbortError, LaneTimeoutError, ProviderError, TasklaneError } from '../../src/errors.js';
import { abortReason, sleep, waitAtMost, withDeadline } from '../../src/util/async.js';

const never = new Promise<never>(() => {});

describe('util/async', () => {
  it('sleep resolves after the time, and rejects with the abort reason at once when aborted (before or during)', async () => {
    const started = performance.now();
    await sleep(30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    const early = new AbortController();
    early.abort(new LaneTimeoutError('io', 5, 'running'));
    await expect(sleep(60_000, early.signal)).rejects.toMatchObject({ code: 'TL_ERR_LANE_TIMEOUT' });
    const later = new AbortController();
    const pending = sleep(60_000, later.signal);
    later.abort('caller left');
    await expect(pending).rejects.toMatchObject({ code: 'TL_ERR_ABORTED', message: 'caller left' });
  });

  it('waitAtMost says whether the promise settled in time, never rejects, and holds no timer afterwards', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((k) => k === 'Timeout').length;
    const before = timers();
    expect(await waitAtMost(Promise.resolve(1), 60_000)).toBe(true);
    expect(await waitAtMost(Promise.reject(new Error('x')), 60_000)).toBe(true);
    expect(await waitAtMost(never, 20)).toBe(false);
    expect(timers()).toBe(before);
  });

  it('withDeadline passes the outcome through, or rejects with onTimeout() when late', async () => {
    expect(await withDeadline(Promise.resolve('ok'), 1_000, () => new Error('late'))).toBe('ok');
    await expect(withDeadline(Promise.reject(new AbortError('gone')), 1_000, () => new Error('late'))).rejects.toMatchObject({
      code: 'TL_ERR_ABORTED',
    });
    await expect(withDeadline(never, 20, () => new Error('too late'))).rejects.toThrow('too late');
  });

  it('abortReason keeps our errors (only the listed codes when given) and wraps anything else in AbortError', () => {
    const reasonOf = (reason: unknown) => {
      const c = new AbortController();
      c.abort(reason);
      return c.signal;
    };
    const provider = new ProviderError('TL_ERR_AI_PROVIDER', 'upstream 503');
    expect(abortReason(reasonOf(provider))).toBe(provider);
    const wrapped = abortReason(reasonOf(provider), ['TL_ERR_ABORTED', 'TL_ERR_LANE_TIMEOUT']);
    expect(wrapped).toBeInstanceOf(AbortError);
    expect(wrapped.message).toBe('upstream 503');
    expect(wrapped.cause).toBe(provider);
    expect(TasklaneError.isInstance(abortReason(reasonOf(undefined)))).toBe(true);
  });
});
