import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { LaneStats, Placement } from './types.js';

type Quantiles = LaneStats['runMs'];

/** Counters and wait/run time histograms of one lane (recorded in µs, reported in ms). */
export class LaneCounters {
  completed = 0;
  failed = 0;
  timedOut = 0;
  aborted = 0;
  rejected = 0;
  readonly #wait: RecordableHistogram = createHistogram();
  readonly #run: RecordableHistogram = createHistogram();

  recordWait(ms: number): void {
    this.#wait.record(Math.max(1, Math.round(ms * 1000)));
  }

  recordRun(ms: number): void {
    this.#run.record(Math.max(1, Math.round(ms * 1000)));
  }

  snapshot(base: {
    placement: Placement;
    concurrency: number;
    maxQueue: number;
    active: number;
    queued: number;
    threads: number;
  }): LaneStats {
    return {
      ...base,
      completed: this.completed,
      failed: this.failed,
      timedOut: this.timedOut,
      aborted: this.aborted,
      rejected: this.rejected,
      waitMs: quantiles(this.#wait),
      runMs: quantiles(this.#run),
    };
  }
}

function quantiles(h: RecordableHistogram): Quantiles {
  if (h.count === 0) return { p50: 0, p90: 0, p99: 0, max: 0 };
  const ms = (us: number) => Math.round(us) / 1000;
  return { p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), max: ms(h.max) };
}
