import { describe, expect, it } from 'vitest';
import { SingleFlight } from '../../src/ai/single-flight.js';

describe('SingleFlight', () => {
  it('shares one call among identical concurrent callers', async () => {
    const sf = new SingleFlight<number>();
    let calls = 0;
    let release!: (v: number) => void;
    const fn = () => {
      calls++;
      return new Promise<number>((r) => (release = r));
    };
    const runs = Array.from({ length: 10 }, () => sf.run('k', undefined, fn));
    expect(runs.filter((r) => r.joined)).toHaveLength(9);
    release(42);
    expect(await Promise.all(runs.map((r) => r.promise))).toEqual(Array(10).fill(42));
    expect(calls).toBe(1);
    expect(sf.size).toBe(0);
  });

  it('aborts the shared call only when the last caller leaves', async () => {
    const sf = new SingleFlight<string>();
    let upstream!: AbortSignal;
    const fn = (signal: AbortSignal) => {
      upstream = signal;
      return new Promise<string>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    };
    const a = new AbortController();
    const b = new AbortController();
    const ra = sf.run('k', a.signal, fn);
    const rb = sf.run('k', b.signal, fn);
    a.abort();
    await expect(ra.promise).rejects.toMatchObject({ code: 'TL_ERR_ABORTED' });
    expect(upstream.aborted).toBe(false);
    b.abort();
    await expect(rb.promise).rejects.toMatchObject({ code: 'TL_ERR_ABORTED' });
    expect(upstream.aborted).toBe(true);
  });
});
