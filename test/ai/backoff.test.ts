import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../src/ai/backoff.js';

describe('backoffMs', () => {
  it('grows exponentially, is capped, and keeps half of the delay fixed', () => {
    expect(backoffMs(1, 100, 2_000, () => 0)).toBe(50);
    expect(backoffMs(1, 100, 2_000, () => 1)).toBe(100);
    expect(backoffMs(3, 100, 2_000, () => 0.5)).toBe(300);
    expect(backoffMs(20, 100, 2_000, () => 1)).toBe(2_000);
    expect(backoffMs(0, 100, 2_000)).toBe(0);
    expect(backoffMs(2, 0, 2_000)).toBe(0);
  });
});
