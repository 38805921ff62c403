/**
 * The soak in short (bench/soak runs it for 20 minutes): a real `tasklane serve` process under a
 * minute of mixed gateway, job, WebSocket and SSE traffic. Every answer must be right (failures
 * only where the upstream was told to fail, never a truncated stream that looks finished), every
 * event stream whole, every job ended, and the server must come back to its idle figures (sockets,
 * handles, fds) and exit 0 on SIGTERM.
 */
import { describe, expect, it } from 'vitest';
import { assertBuilt } from './cli/cli-process.js';

interface Trend {
  n: number;
  first: number;
  last: number;
  growth: number;
  flat: boolean;
}
interface Sample {
  heapMb: number;
  heapGcMb?: number;
  handles: number;
  timers: number;
  sockets: number;
  fds: number;
}
interface SoakResult {
  stats: {
    chat: { ok: number; expectedFail: number; aborted: number; cacheHits: number };
    jobs: { submitted: number; succeeded: number; cancelled: number; dead: number; unfinished: number };
    ws: { connections: number; jobsFollowed: number; events: number; gaps: number; dups: number };
    sse: { streams: number; events: number; gaps: number };
    errors: string[];
  };
  metrics: Record<string, Trend>;
  idle: { before: Sample; after: Sample };
  exit: { code: number | string; ms: number };
  samples: Sample[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('soak (60 s)', () => {
  it('serves a minute of mixed traffic correctly and returns to its idle figures', async () => {
    assertBuilt('index.js');
    const { runSoak } = (await import('../bench/soak/driver.js')) as { runSoak: (o: object) => Promise<SoakResult> };
    const r = await runSoak({ seconds: 60, sampleS: 5, warmupS: 5, settleS: 6, subscribers: 6 });
    console.log(
      JSON.stringify({ idle: r.idle, samples: r.samples.map((s) => [Math.round(s.heapMb), s.handles, s.timers, s.sockets, s.fds]) }),
    );
    const { stats } = r;
    expect(stats.errors).toEqual([]);
    expect(stats.chat.ok).toBeGreaterThan(300);
    expect(stats.chat.expectedFail).toBeGreaterThan(20);
    expect(stats.chat.cacheHits).toBeGreaterThan(0);
    expect(stats.jobs.unfinished).toBe(0);
    expect(stats.jobs.succeeded).toBeGreaterThan(200);
    expect(stats.jobs.cancelled).toBeGreaterThan(0);
    expect(stats.jobs.dead).toBe(0);
    expect(stats.ws.connections).toBeGreaterThan(6);
    expect(stats.ws.events).toBeGreaterThan(2_000);
    expect(stats.ws.gaps + stats.ws.dups + stats.sse.gaps).toBe(0);
    expect(stats.sse.streams).toBeGreaterThan(20);

    // Back to idle: nothing opened by the traffic is left behind. (The driver's own idle
    // connections close within a second, so both samples see only what the server keeps.)
    const { before, after } = r.idle;
    expect(after.sockets - before.sockets, JSON.stringify(r.idle)).toBeLessThanOrEqual(1);
    expect(after.handles - before.handles, JSON.stringify(r.idle)).toBeLessThanOrEqual(1);
    expect(after.timers - before.timers, JSON.stringify(r.idle)).toBeLessThanOrEqual(1);
    expect(after.fds - before.fds, JSON.stringify(r.idle)).toBeLessThanOrEqual(1);
    // Under traffic the handle and socket counts do not climb.
    expect(r.metrics.handles!.flat, JSON.stringify(r.metrics.handles)).toBe(true);
    expect(r.metrics.sockets!.flat, JSON.stringify(r.metrics.sockets)).toBe(true);
    expect(r.metrics.timers!.flat, JSON.stringify(r.metrics.timers)).toBe(true);
    // The heap may saw up and down with the collector, but the last third is not far above the first.
    const heap = r.samples.map((s) => s.heapMb);
    const third = Math.max(1, Math.floor(heap.length / 3));
    expect(median(heap.slice(-third)), JSON.stringify(heap)).toBeLessThan(median(heap.slice(0, third)) * 1.5 + 8);

    // After a full collection the idle heap holds what the traffic left behind: little.
    expect(after.heapGcMb! - before.heapGcMb!, JSON.stringify(r.idle)).toBeLessThan(5);

    expect(r.exit.code).toBe(0);
    expect(r.exit.ms).toBeLessThan(10_000);
  }, 150_000);
});
