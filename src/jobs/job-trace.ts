/**
 * Spans of jobs (tracing on): `enqueue <task>` (producer) where a job is made, and `job <task>`
 * (consumer) for each attempt, under the traceparent kept in the job record, so an attempt in any
 * process of a fleet joins the trace of the request that made the job. The lane task, the steps
 * and the AI calls of the attempt go under the attempt's span.
 */
import type { FinishOutcome } from './engine.js';
import type { JobRecord } from './types.js';
import type { TraceSpan, Tracing } from '../telemetry/tracing.js';

export function enqueueSpan(tracing: Tracing, task: string, parent: string | undefined): TraceSpan {
  return tracing.start(`enqueue ${task}`, {
    kind: 'producer',
    ...(parent ? { parent } : {}),
    attributes: { 'tasklane.job.task': task, 'messaging.operation.type': 'send' },
  });
}

export function attemptSpan(tracing: Tracing, job: JobRecord, workerId: string): TraceSpan {
  return tracing.start(`job ${job.task}`, {
    kind: 'consumer',
    ...(job.traceparent ? { parent: job.traceparent } : {}),
    attributes: {
      'tasklane.job.id': job.id,
      'tasklane.job.task': job.task,
      'tasklane.job.attempt': job.attempt,
      'tasklane.job.max_attempts': job.maxAttempts,
      'tasklane.worker.id': workerId,
      'messaging.operation.type': 'process',
    },
  });
}

/** Ends an attempt's span with how it ended; undefined = lost or given back (no outcome written). */
export function endAttemptSpan(span: TraceSpan, end: FinishOutcome | undefined): void {
  span.set('tasklane.job.outcome', end?.outcome ?? 'released');
  span.end(end && 'error' in end && end.error && end.outcome !== 'cancelled' ? end.error : undefined);
}
