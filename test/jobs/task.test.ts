import { describe, expect, it } from 'vitest';
import { backoffDelay, defineTask, isTask } from '../../src/jobs/task.js';

describe('defineTask', () => {
  it('returns a frozen, marked task that keeps its module', () => {
    const task = defineTask({ name: 'a.b', lane: 'io', run: () => 1 }, 'file:///x/tasks.js');
    expect(isTask(task)).toBe(true);
    expect(isTask({ ...task })).toBe(true);
    expect(isTask({ name: 'a.b', lane: 'io', run: () => 1 })).toBe(false);
    expect(task.module).toBe('file:///x/tasks.js');
    expect(Object.isFrozen(task)).toBe(true);
  });

  it('names what is wrong', () => {
    expect(() => defineTask({ name: '', lane: 'io', run: () => 1 })).toThrow(/name/);
    expect(() => defineTask({ name: 'x', lane: '', run: () => 1 })).toThrow(/lane/);
    expect(() => defineTask({ name: 'x', lane: 'io', run: 1 as never })).toThrow(/run/);
    expect(() => defineTask({ name: 'x', lane: 'io', maxAttempts: 0, run: () => 1 })).toThrow(/maxAttempts/);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially from baseMs and stops at maxMs', () => {
    const b = { baseMs: 100, factor: 3, maxMs: 1_000 };
    expect([1, 2, 3, 4].map((n) => backoffDelay(b, n))).toEqual([100, 300, 900, 1_000]);
    expect([1, 2, 3].map((n) => backoffDelay(undefined, n))).toEqual([1_000, 2_000, 4_000]);
    expect([1, 5].map((n) => backoffDelay({ type: 'fixed', baseMs: 250 }, n))).toEqual([250, 250]);
  });

  it('spreads by the jitter fraction either way', () => {
    const b = { baseMs: 1_000, jitter: 0.5 };
    expect(backoffDelay(b, 1, () => 0)).toBe(500);
    expect(backoffDelay(b, 1, () => 0.999_999)).toBe(1_500);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(b, 1);
      expect(d).toBeGreaterThanOrEqual(500);
      expect(d).toBeLessThanOrEqual(1_500);
    }
  });
});
