/**
 * The parts of `runtime.jobs` that only a process taking work has (`jobs.worker`): the worker
 * loop, the wake timer for parked workflows, and the order they all stop in on close.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { type TasklaneError, toTasklaneError } from '../errors.js';
import type { Lanes } from '../lanes/lanes.js';
import type { Host } from '../runtime/host.js';
import type { JobEngine } from './engine.js';
import type { EventHub } from './events/event-hub.js';
import type { LimitGate } from './limits/gate.js';
import type { JobMetrics } from './metrics.js';
import type { Retention } from './retention.js';
import type { TaskRegistry } from './task-registry.js';
import type { JobRecord } from './types.js';
import type { WorkflowDeps } from './workflow/attempt.js';
import { WakeTimer } from './workflow/wake-timer.js';
import { WorkerLoop } from './worker-loop.js';

export interface WorkerParts {
  worker: WorkerLoop;
  wake: WakeTimer;
}

export interface WorkerDeps {
  host: Host;
  lanes: Lanes;
  engine: JobEngine;
  hub: EventHub;
  registry: TaskRegistry;
  metrics: JobMetrics;
  report: (err: TasklaneError) => void;
  enqueueChild: WorkflowDeps['enqueueChild'];
  /** An attempt ended here (its limit slot is free again). */
  onAttemptEnded: (job: JobRecord) => void;
}

export function buildWorker(deps: WorkerDeps): WorkerParts {
  const { host, lanes, engine, report } = deps;
  const cfg = host.config.jobs;
  let worker: WorkerLoop | undefined;
  const wake = new WakeTimer(
    engine,
    cfg.pollMs,
    () => worker?.wake(),
    (err) => report(toTasklaneError(err)),
  );
  const workflows: WorkflowDeps = {
    engine,
    lanes,
    maxStepResultBytes: cfg.maxStepResultBytes,
    enqueueChild: deps.enqueueChild,
    parkedHere: (record) => wake.parked(record),
    tracing: host.tracing,
    stepScope: new AsyncLocalStorage(),
  };
  worker = new WorkerLoop(host, lanes, engine, deps.hub, deps.registry, {
    leaseMs: cfg.leaseMs,
    pollMs: cfg.pollMs,
    cancelGraceMs: cfg.cancelGraceMs,
    metrics: deps.metrics,
    onError: report,
    workflows,
    onAttemptEnded: deps.onAttemptEnded,
  });
  return { worker, wake };
}

export interface ClosingParts {
  engine: JobEngine;
  hub: EventHub;
  retention: Retention;
  scheduler: { stop(): Promise<void> };
  gate?: LimitGate;
  worker?: WorkerParts;
}

/** Stops everything in order: schedules, retention, wake-ups, the worker, the limit gate, streams, the store. */
export async function closeParts(parts: ClosingParts, deadline: number): Promise<void> {
  const { engine } = parts;
  // Leave a share of the deadline for giving leases back and closing the store.
  // Past the deadline the engine drops what it still holds (a store that went away would
  // otherwise keep its connections, and the process, alive); the timer itself never does.
  const destroy = setTimeout(() => engine.destroy?.(), deadline);
  destroy.unref();
  try {
    await parts.scheduler.stop();
    await parts.retention.stop();
    parts.worker?.wake.stop();
    await parts.worker?.worker.close(Math.max(0, deadline - Math.min(1_000, deadline * 0.3)));
    await parts.gate?.stop();
    parts.hub.close();
    await engine.close();
  } finally {
    clearTimeout(destroy);
  }
}
