import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/ai/breaker.js';

describe('CircuitBreaker', () => {
  it('opens after the configured consecutive failures, then lets exactly one probe through after resetMs', () => {
    const changes: string[] = [];
    const b = new CircuitBreaker(3, 1_000);
    b.onChange = (s) => changes.push(s);
    b.failure(0);
    b.success();
    b.failure(0);
    b.failure(0);
    expect(b.state).toBe('closed');
    b.failure(100);
    expect(b.state).toBe('open');
    expect(b.acquire(500)).toBe(false);
    expect(b.canPass(1_100)).toBe(true);
    expect(b.acquire(1_100)).toBe(true);
    expect(b.state).toBe('half-open');
    expect(b.acquire(1_100)).toBe(false); // only one probe
    b.failure(1_200);
    expect(b.state).toBe('open');
    expect(b.retryAt).toBe(2_200);
    expect(b.acquire(2_200)).toBe(true);
    b.success();
    expect(b.state).toBe('closed');
    expect(changes).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });

  it('a failed probe doubles the wait up to maxResetMs; a success resets it', () => {
    const b = new CircuitBreaker(1, 1_000, 3_000);
    b.failure(0);
    expect(b.retryAt).toBe(1_000);
    let now = 1_000;
    for (const wait of [2_000, 3_000, 3_000]) {
      expect(b.acquire(now)).toBe(true);
      b.failure(now);
      expect(b.retryAt).toBe(now + wait);
      now += wait;
    }
    expect(b.acquire(now)).toBe(true);
    b.success();
    expect(b.resetMs).toBe(1_000);
    b.failure(now);
    expect(b.retryAt).toBe(now + 1_000);
  });

  it('frees the probe when the call says nothing about the target', () => {
    const b = new CircuitBreaker(1, 10);
    b.failure(0);
    expect(b.acquire(10)).toBe(true);
    b.release();
    expect(b.acquire(10)).toBe(true);
  });
});
