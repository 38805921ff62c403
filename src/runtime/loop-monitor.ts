import { monitorEventLoopDelay, performance, type IntervalHistogram, type EventLoopUtilization } from 'node:perf_hooks';

export interface LoopSnapshot {
  /** Event-loop delay percentiles over the current window, in ms. */
  delayMs: { p50: number; p99: number; max: number; mean: number };
  /** Share of time the loop was busy over the current window, 0..1. */
  utilization: number;
  /** Length of the window the figures cover, in ms. */
  windowMs: number;
}

/**
 * Measures event-loop delay (perf_hooks histogram) and utilization all the time. Figures cover a
 * sliding window: each `windowMs` the histogram is reset, keeping the last full window's figures.
 */
export class LoopMonitor {
  #histogram: IntervalHistogram;
  #elu: EventLoopUtilization;
  #timer: NodeJS.Timeout;
  #last: LoopSnapshot;
  #windowStart = performance.now();
  #resolutionMs: number;

  constructor(options: { resolutionMs?: number; windowMs?: number } = {}) {
    const windowMs = options.windowMs ?? 10_000;
    this.#resolutionMs = options.resolutionMs ?? 10;
    this.#histogram = monitorEventLoopDelay({ resolution: this.#resolutionMs });
    this.#histogram.enable();
    this.#elu = performance.eventLoopUtilization();
    this.#last = this.#read();
    this.#timer = setInterval(() => {
      this.#last = this.#read();
      this.#histogram.reset();
      this.#elu = performance.eventLoopUtilization();
      this.#windowStart = performance.now();
    }, windowMs);
    this.#timer.unref();
  }

  /** Figures of the current window, or of the last full one if the current one is young. */
  snapshot(): LoopSnapshot {
    const now = this.#read();
    return now.windowMs >= 1_000 || this.#last.windowMs === 0 ? now : this.#last;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#histogram.disable();
  }

  #read(): LoopSnapshot {
    const h = this.#histogram;
    // The histogram records the interval between timer ticks, so an idle loop reads as the
    // resolution itself; the delay is what exceeds it.
    const ms = (ns: number) => (Number.isFinite(ns) ? Math.max(0, Math.round((ns / 1e6 - this.#resolutionMs) * 100) / 100) : 0);
    const count = h.count ?? 0;
    return {
      delayMs:
        count > 0
          ? { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) }
          : { p50: 0, p99: 0, max: 0, mean: 0 },
      utilization: Math.round(performance.eventLoopUtilization(this.#elu).utilization * 1000) / 1000,
      windowMs: Math.round(performance.now() - this.#windowStart),
    };
  }
}
