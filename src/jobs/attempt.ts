/**
 * One attempt of a claimed job: runs it in its task's lane, turns how it ended into the finish
 * (retry after backoff, dead, cancelled) and writes that with the attempt's fencing token,
 * waiting while the store refuses writes. The worker loop owns claiming, renewals and close.
 */
import { JobError, type TasklaneError, toTasklaneError } from '../errors.js';
import type { Lanes } from '../lanes/lanes.js';
import type { Host } from '../runtime/host.js';
import type { FinishOutcome, JobEngine } from './engine.js';
import { CANCELLED } from './engines/common.js';
import type { EventHub } from './events/event-hub.js';
import type { LiveJob } from './events/live-job.js';
import { backoffDelay } from './task.js';
import type { TaskRegistry } from './task-registry.js';
import type { JobEventType, JobRecord, TaskDef } from './types.js';
import type { TraceSpan } from '../telemetry/tracing.js';
import type { WorkflowAttempt } from './workflow/attempt.js';

export interface Running {
  job: JobRecord;
  token: string;
  task: TaskDef;
  live: LiveJob;
  controller: AbortController;
  cancelled: boolean;
  /** The lease is gone (refused renew or event write): the result is thrown away. */
  lost: boolean;
  /** Given back on close: the result is thrown away, the attempt not counted. */
  released: boolean;
  /** The attempt's end is being written: no more renewals. */
  finishing: boolean;
  /** Ends the wait before the next try at writing the end while the store refuses writes. */
  wakeRetry?: () => void;
  done: Promise<void>;
  /** How the attempt ended, for metrics. */
  outcome?: string;
  /** With tracing on: the attempt's span, and the end written (none when lost or given back). */
  span?: TraceSpan;
  end?: FinishOutcome;
  /** The workflow side of the attempt (ctx.step and friends), and the record if it parked. */
  flow?: WorkflowAttempt;
  parked?: JobRecord;
}

export interface AttemptDeps {
  host: Host;
  lanes: Lanes;
  engine: JobEngine;
  hub: EventHub;
  tasks: TaskRegistry;
  cancelGraceMs: number;
  /** The job left the loop's reserved slots for the lane (started, or failed to start). */
  handOver: () => void;
  report: (err: unknown, what: string) => void;
}

export async function runAttempt(r: Running, d: AttemptDeps): Promise<void> {
  const { job, task, live } = r;
  let end: FinishOutcome;
  let handed = false;
  const handOver = () => {
    if (handed) return;
    handed = true;
    d.handOver();
  };
  try {
    const work = r.flow ? r.flow.wrap(d.tasks.work(task.name)) : d.tasks.work(task.name);
    const running = d.lanes.run(task.lane, work, job.input, {
      signal: r.controller.signal,
      timeoutMs: task.timeoutMs,
      abortGraceMs: d.cancelGraceMs,
      // The owner goes with the job's AI calls: they are charged to its key and tenant.
      context: { jobId: job.id, attempt: job.attempt, ...(job.owner ? { owner: job.owner } : {}) },
      ...(r.span ? { traceparent: r.span.traceparent } : {}),
      host: {
        progress: (data) => live.progress(data),
        log: (msg, data) => {
          live.emit('log', data === undefined ? { msg } : { msg, data });
          d.host.log.info({ jobId: job.id, task: task.name, attempt: job.attempt, ...data }, msg);
        },
      },
    });
    handOver();
    end = { outcome: 'succeeded', result: await running };
  } catch (err) {
    handOver();
    end = failure(r, toTasklaneError(err), d.host);
  }
  if (r.parked) {
    // The engine already ended the attempt (waiting, or queued again at once); its events are in the store.
    d.hub.endLive(live);
    return;
  }
  if (r.lost || r.released) return;
  r.finishing = true;
  let storeDown = false;
  for (let wait = 100; ; wait = Math.min(wait * 2, 1_000)) {
    try {
      await live.flush();
      const record = await d.engine.finish(job.id, r.token, end);
      r.outcome = end.outcome;
      r.end = end;
      if (end.outcome === 'dead') {
        d.host.log.warn(
          { task: job.task, jobId: job.id, attempts: job.attempt, maxAttempts: job.maxAttempts, code: end.error.code },
          `job ${job.id} (${job.task}) is dead after ${job.attempt} attempt${job.attempt === 1 ? '' : 's'}: ${end.error.code}`,
        );
      }
      d.hub.endLive(live, { record, ...statusOf(record) });
      if (storeDown)
        d.host.log.info({ jobId: job.id, attempt: job.attempt }, `job ${job.id}: the store is back, its ${end.outcome} outcome is written`);
      return;
    } catch (err) {
      const e = toTasklaneError(err);
      // The store refuses writes for now (disk full, read-only): keep the outcome and write it
      // once the store is back. If this process stops first, the lease lapses and another
      // attempt runs; nothing is half-written either way.
      if (e.code.startsWith('TL_ERR_STORE_') && !r.lost && !r.released) {
        if (!storeDown) d.report(e, `finishing job ${job.id} (kept, retrying until the store is back)`);
        storeDown = true;
        // Renewals go on while waiting, so a long outage does not let the lease lapse.
        r.finishing = false;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          r.wakeRetry = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        r.wakeRetry = undefined;
        r.finishing = true;
        if (!r.released && !r.lost) continue;
      }
      d.hub.endLive(live);
      if (r.lost) return;
      if (e.code === 'TL_ERR_JOB_LEASE_LOST') d.host.log.warn({ jobId: job.id, attempt: job.attempt }, e.message);
      else if (!r.released) d.report(e, `finishing job ${job.id}`);
      return;
    }
  }
}

/** How a failed attempt ends: cancelled, retried after backoff, or dead. */
function failure(r: Running, err: TasklaneError, host: Host): FinishOutcome {
  if (r.cancelled) return { outcome: 'cancelled', error: CANCELLED };
  const error = { code: err.code, message: host.scrub(err.message) };
  // A task module that starts a runtime in its thread does so on every attempt: no retry.
  if (
    err.code === 'TL_ERR_JOB_NON_RETRYABLE' ||
    err.code === 'TL_ERR_TASK_MODULE_SIDE_EFFECT' ||
    err.code === 'TL_ERR_JOB_WORKFLOW_UNSUPPORTED' ||
    r.job.attempt >= r.job.maxAttempts ||
    r.flow?.isFinal(err)
  )
    return { outcome: 'dead', error };
  return { outcome: 'retry', error, runAt: Date.now() + backoffDelay(r.task.backoff, r.job.attempt) };
}

/** The attempt lost its lease: stop it and keep nothing it produces. */
export function loseAttempt(r: Running, err: TasklaneError, host: Host, hub: EventHub): void {
  if (r.lost || r.parked) return;
  r.lost = true;
  host.log.warn({ jobId: r.job.id, attempt: r.job.attempt }, `job ${r.job.id}: ${err.message}; stopping this attempt`);
  r.controller.abort(new JobError('TL_ERR_JOB_LEASE_LOST', err.message));
  hub.endLive(r.live);
}

/** The status event the engine wrote with this record (data as FinishOutcome and release define it). */
export function statusOf(record: JobRecord, released = false): { type: JobEventType; data: unknown } {
  switch (record.state) {
    case 'succeeded':
      return { type: 'succeeded', data: { result: record.result ?? null } };
    case 'dead':
      return { type: 'dead', data: { error: record.error ?? null } };
    case 'cancelled':
      return { type: 'cancelled', data: { error: record.error ?? null } };
    default:
      return { type: 'retrying', data: released ? { released: true, runAt: record.runAt } : { error: record.error, runAt: record.runAt } };
  }
}
