/** The job system's Prometheus figures, registered on the runtime's registry. */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Host } from '../runtime/host.js';

export interface JobMetrics {
  enqueued(task: string): void;
  /** An attempt ended: succeeded, retry, dead, cancelled, released, parked (a workflow wait) or lost. */
  attemptEnded(task: string, outcome: string, runMs: number): void;
}

export function jobMetrics(runtime: Pick<Host, 'metrics'>, running: () => number): JobMetrics {
  const registers = [runtime.metrics];
  const enqueued = new Counter({
    name: 'tasklane_jobs_enqueued_total',
    help: 'Jobs enqueued by this process, by task',
    labelNames: ['task'],
    registers,
  });
  const ended = new Counter({
    name: 'tasklane_job_attempts_total',
    help: 'Attempts ended in this process, by task and outcome (succeeded, retry, dead, cancelled, released, parked, lost)',
    labelNames: ['task', 'outcome'],
    registers,
  });
  const duration = new Histogram({
    name: 'tasklane_job_attempt_ms',
    help: 'Attempt run time in this process, in ms, by task',
    labelNames: ['task'],
    buckets: [1, 5, 25, 100, 500, 2_500, 10_000, 60_000, 300_000],
    registers,
  });
  new Gauge({
    name: 'tasklane_jobs_running',
    help: 'Attempts running in this process',
    registers,
    collect() {
      this.set(running());
    },
  });
  return {
    enqueued: (task) => enqueued.inc({ task }),
    attemptEnded: (task, outcome, runMs) => {
      ended.inc({ task, outcome });
      duration.observe({ task }, runMs);
    },
  };
}
