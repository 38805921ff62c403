import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { continueTrace, formatTraceparent, parseTraceparent, randomHex } from '../../src/telemetry/traceparent.js';

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const ids = fc
  .record({ traceId: hex(32), spanId: hex(16), flags: fc.integer({ min: 0, max: 255 }) })
  .filter((i) => /[^0]/.test(i.traceId) && /[^0]/.test(i.spanId));

describe('traceparent', () => {
  it('parses what it formats, and a child keeps the trace id and flags with a new span id', () => {
    fc.assert(
      fc.property(ids, (i) => {
        const text = formatTraceparent(i);
        expect(parseTraceparent(text)).toEqual(i);
        const child = parseTraceparent(continueTrace(text))!;
        expect(child.traceId).toBe(i.traceId);
        expect(child.flags).toBe(i.flags);
        expect(child.spanId).not.toBe(i.spanId);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses what the W3C format forbids, and reads a later version by its first four fields', () => {
    const t = '4bf92f3577b34da6a3ce929d0e0e4736';
    const s = '00f067aa0ba902b7';
    for (const bad of [
      `00-${'0'.repeat(32)}-${s}-01`,
      `00-${t}-${'0'.repeat(16)}-01`,
      `ff-${t}-${s}-01`,
      `00-${t}-${s}-01-extra`,
      `00-${t.toUpperCase()}-${s}-01`,
      `00-${t}-${s}`,
      '',
      'x'.repeat(600),
      42,
      undefined,
    ])
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    expect(parseTraceparent(`01-${t}-${s}-01-more-fields`)).toEqual({ traceId: t, spanId: s, flags: 1 });
    expect(parseTraceparent(` 00-${t}-${s}-01 `)).toEqual({ traceId: t, spanId: s, flags: 1 });
  });

  it('starts a new, unsampled trace without a valid parent; ids are hex and never all zero', () => {
    const a = parseTraceparent(continueTrace(undefined))!;
    const b = parseTraceparent(continueTrace('garbage'))!;
    expect(a.flags).toBe(0);
    expect(a.traceId).not.toBe(b.traceId);
    for (let i = 0; i < 1_000; i++) {
      expect(randomHex(8)).toMatch(/^[0-9a-f]{16}$/);
      expect(randomHex(16)).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
    }
  });
});
