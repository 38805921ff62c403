import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AbortError,
  LaneFullError,
  LaneTimeoutError,
  NonRetryableError,
  ProviderError,
  TasklaneError,
  errorBody,
  errorCodes,
  errorFromJSON,
  toTasklaneError,
} from '../src/errors.js';

describe('error table', () => {
  it('documents every code in docs/errors.md and documents no unknown code', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const documented = new Set([...doc.matchAll(/`(TL_ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]));
    for (const code of Object.keys(errorCodes)) expect(documented, `${code} missing from docs/errors.md`).toContain(code);
    for (const code of documented) expect(Object.keys(errorCodes), `${code} documented but not in the table`).toContain(code);
  });

  it('follows the TL_ERR_<AREA>_<WHAT> shape with a 4xx/5xx status', () => {
    for (const [code, spec] of Object.entries(errorCodes)) {
      expect(code).toMatch(/^TL_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
      expect(spec.status).toBeGreaterThanOrEqual(400);
      expect(spec.status).toBeLessThan(600);
    }
  });

  it('named errors carry the facts a handler needs', () => {
    const full = new LaneFullError('data', 8);
    expect(full.code).toBe('TL_ERR_LANE_FULL');
    expect(full.httpStatus).toBe(429);
    expect(full.details).toEqual({ lane: 'data', maxQueue: 8 });
    expect(full.message).toContain('lanes.data.maxQueue');
    const timeout = new LaneTimeoutError('io', 30_000, 'queued');
    expect(timeout.details).toEqual({ lane: 'io', timeoutMs: 30_000, phase: 'queued' });
    expect(new NonRetryableError('no').retryable).toBe(false);
  });

  it('survives a trip across a thread boundary (structured clone) by its code', () => {
    const original = new ProviderError('TL_ERR_AI_RATE_LIMITED', 'slow down', {
      details: { provider: 'groq', keyIndex: 1, retryAfterMs: 2000 },
    });
    const cloned = structuredClone(original.toJSON());
    const rebuilt = errorFromJSON(cloned);
    expect(TasklaneError.isInstance(rebuilt)).toBe(true);
    expect(rebuilt).toBeInstanceOf(ProviderError);
    expect(rebuilt.code).toBe('TL_ERR_AI_RATE_LIMITED');
    expect(rebuilt.httpStatus).toBe(429);
    expect(rebuilt.details).toEqual({ provider: 'groq', keyIndex: 1, retryAfterMs: 2000 });
    expect(errorFromJSON({ code: 'NOT_A_CODE', message: 'x' }).code).toBe('TL_ERR_INTERNAL');
  });

  it('is recognised across copies by its marker, not instanceof', () => {
    const foreign = { ...new AbortError(), [Symbol.for('tasklane.error')]: true };
    expect(TasklaneError.isInstance(foreign)).toBe(true);
    expect(TasklaneError.isInstance(new Error('plain'))).toBe(false);
  });

  it('wraps unknown throws and renders the HTTP body', () => {
    const wrapped = toTasklaneError(new TypeError('boom'));
    expect(wrapped.code).toBe('TL_ERR_INTERNAL');
    expect(wrapped.cause).toBeInstanceOf(TypeError);
    const abort = toTasklaneError(Object.assign(new Error('stop'), { name: 'AbortError' }));
    expect(abort.code).toBe('TL_ERR_ABORTED');
    expect(errorBody(new LaneFullError('ai', 1))).toEqual({
      error: { code: 'TL_ERR_LANE_FULL', message: expect.stringContaining('lane "ai" is full'), details: { lane: 'ai', maxQueue: 1 } },
    });
  });
});
