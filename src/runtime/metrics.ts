import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { LoopMonitor } from './loop-monitor.js';

/** One Prometheus registry per runtime (never the global one), with process and loop figures. */
export function createMetrics(loop: LoopMonitor): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tasklane_process_' });
  const delay = new Gauge({
    name: 'tasklane_loop_delay_ms',
    help: 'Event-loop delay over the current window, in ms',
    labelNames: ['quantile'],
    registers: [registry],
    collect() {
      const s = loop.snapshot();
      this.set({ quantile: '0.5' }, s.delayMs.p50);
      this.set({ quantile: '0.99' }, s.delayMs.p99);
      this.set({ quantile: '1' }, s.delayMs.max);
    },
  });
  void delay;
  new Gauge({
    name: 'tasklane_process_active_resources',
    help: 'Resources keeping the event loop alive, by type (sockets, timers, ports...): a count that climbs under steady load is a leak',
    labelNames: ['type'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
      for (const [type, n] of counts) this.set({ type }, n);
    },
  });
  new Gauge({
    name: 'tasklane_loop_utilization',
    help: 'Share of time the event loop was busy over the current window (0..1)',
    registers: [registry],
    collect() {
      this.set(loop.snapshot().utilization);
    },
  });
  return registry;
}

/**
 * A labelled counter child that adds up in a plain number and hands the sum to prom-client when
 * the registry is read: prom-client hashes and checks the labels on every inc(), even on a child.
 * `flush()` runs from the counter's `collect()`.
 */
export class Tally {
  readonly #child: { inc(value?: number): void };
  #pending = 0;

  constructor(child: { inc(value?: number): void }) {
    this.#child = child;
  }

  /** Adds a finite, positive amount (anything else is not a count and is dropped). */
  inc(value = 1): void {
    if (value > 0 && Number.isFinite(value)) this.#pending += value;
  }

  flush(): void {
    if (this.#pending === 0) return;
    const n = this.#pending;
    this.#pending = 0;
    this.#child.inc(n);
  }
}
