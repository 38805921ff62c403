import { describe, expect, it } from 'vitest';
import { parseDurationMs, parseRetryAfterMs } from '../../../../src/ai/providers/http/retry-after.js';

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it('reads retry-after in seconds, whole or decimal', () => {
    expect(parseRetryAfterMs({ 'retry-after': '3' }, now)).toBe(3_000);
    expect(parseRetryAfterMs({ 'retry-after': '0.5' }, now)).toBe(500);
  });

  it('reads retry-after as an HTTP date, relative to now, never negative', () => {
    expect(parseRetryAfterMs({ 'retry-after': 'Wed, 01 Jan 2025 00:00:07 GMT' }, now)).toBe(7_000);
    expect(parseRetryAfterMs({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }, now)).toBe(0);
  });

  it('reads retry-after-ms', () => {
    expect(parseRetryAfterMs({ 'retry-after-ms': '250' }, now)).toBe(250);
  });

  it('reads the x-ratelimit-reset durations', () => {
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-requests': '1s' }, now)).toBe(1_000);
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-tokens': '6m0s' }, now)).toBe(360_000);
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-tokens': '250ms' }, now)).toBe(250);
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-requests': '1h2m3.5s' }, now)).toBe(3_723_500);
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-requests': '2' }, now)).toBe(2_000);
  });

  it('takes the largest of every form present', () => {
    expect(
      parseRetryAfterMs(
        { 'retry-after': '1', 'retry-after-ms': '1500', 'x-ratelimit-reset-requests': '800ms', 'x-ratelimit-reset-tokens': '2.5s' },
        now,
      ),
    ).toBe(2_500);
  });

  it('reads the first of repeated headers and ignores garbage', () => {
    expect(parseRetryAfterMs({ 'retry-after': ['4', '9'] }, now)).toBe(4_000);
    expect(
      parseRetryAfterMs({ 'retry-after': 'soon', 'retry-after-ms': 'x', 'x-ratelimit-reset-tokens': '5 minutes' }, now),
    ).toBeUndefined();
    expect(parseRetryAfterMs({}, now)).toBeUndefined();
  });

  it('parseDurationMs rejects partial matches', () => {
    expect(parseDurationMs('1s2')).toBeUndefined();
    expect(parseDurationMs('m')).toBeUndefined();
    expect(parseDurationMs('1m30s')).toBe(90_000);
  });
});
