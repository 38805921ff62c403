/**
 * What every job engine shares, written once so a new engine copies nothing: list limits and the
 * cursor rule, the prune guard, the error shapes the contract names (not found, lease lost, wrong
 * state, closed store), and the event data a finish writes.
 */
import { JobError, StoreError, ValidationError, jobNotFound, type NotFoundError } from '../../errors.js';
import type { EngineEnqueueOptions, FinishOutcome } from '../engine.js';
import { JOB_STATES, type JobEventType, type JobRecord, type ListQuery } from '../types.js';

/** Every state, in the order counts and lists report them. */
export { JOB_STATES };

/** Largest page a list answers. */
export const LIST_MAX = 500;
const LIST_DEFAULT = 50;

/** The error a cancelled attempt ends with (written by the holder, a release or a recovery). */
export const CANCELLED = { code: 'TL_ERR_JOB_CANCELLED', message: 'the job was cancelled' } as const;

/** The page size a list query asks for, bounded to 1…LIST_MAX. */
export function listLimit(q: ListQuery): number {
  return Math.min(LIST_MAX, Math.max(1, Math.floor(q.limit ?? LIST_DEFAULT)));
}

/**
 * Cursors are decimal insertion orders (a row number, a score): the one a page ends at, as a
 * string. Undefined when the query has none; anything else is a ValidationError.
 */
export function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  if (!/^\d+$/.test(cursor)) throw new ValidationError('cursor is not one this server returned: pass the "next" of the previous page');
  return Number(cursor);
}

export function encodeCursor(order: number | string): string {
  return String(order);
}

/** The owner filter of a list or count, when it filters anything. */
export function ownerFilter(q: ListQuery['owner']): NonNullable<ListQuery['owner']> | undefined {
  return q && (q.key !== undefined || q.tenant !== undefined) ? q : undefined;
}

/** How many jobs a prune may delete: 0 when the limit or both cut-offs ask for nothing. */
export function pruneCount(cut: { succeededBefore: number; failedBefore: number }, limit: number): number {
  const n = Math.max(0, Math.floor(limit));
  return n === 0 || (cut.succeededBefore <= 0 && cut.failedBefore <= 0) ? 0 : n;
}

export function notFound(id: string): NotFoundError {
  return jobNotFound(id);
}

export function leaseLost(id: string): JobError {
  return new JobError('TL_ERR_JOB_LEASE_LOST', `the lease on job ${id} was lost: another worker or a recovery took it`, {
    details: { jobId: id },
  });
}

export function cannotCancel(id: string, state: string): JobError {
  return new JobError('TL_ERR_JOB_STATE', `job ${id} is already ${state} and cannot be cancelled`, { details: { jobId: id, state } });
}

export function cannotRetry(id: string, state: string): JobError {
  return new JobError('TL_ERR_JOB_STATE', `job ${id} is ${state}; only dead or cancelled jobs can be retried`, {
    details: { jobId: id, state },
  });
}

/** A holder's events that do not continue the stored stream. */
export function seqGap(id: string, first: number, stored: number): JobError {
  return new JobError('TL_ERR_JOB_STATE', `events for job ${id} start at seq ${first} but the stream ends at ${stored}`, {
    details: { jobId: id },
  });
}

export function storeClosed(kind: string): StoreError {
  return new StoreError('TL_ERR_STORE_UNAVAILABLE', `the ${kind} job store is closed`);
}

/** The status event a finish writes, as the contract defines its data. */
export function finishEvent(end: FinishOutcome): { type: JobEventType; data: unknown } {
  switch (end.outcome) {
    case 'succeeded':
      return { type: 'succeeded', data: { result: end.result ?? null } };
    case 'retry':
      return { type: 'retrying', data: { error: end.error, runAt: end.runAt } };
    default:
      return { type: end.outcome, data: { error: end.error ?? null } };
  }
}

/** The record of a job just stored by enqueue (seq 1, the `enqueued` event, written with it). */
export function enqueuedRecord(id: string, task: string, input: unknown, opts: EngineEnqueueOptions, now: number): JobRecord {
  const delayMs = Math.max(0, opts.delayMs ?? 0);
  const record: JobRecord = {
    id,
    task,
    // A job with a limit group waits held (shown queued) until its gate admits it, delayed or not.
    state: delayMs > 0 && opts.group === undefined ? 'delayed' : 'queued',
    input,
    attempt: 0,
    maxAttempts: opts.maxAttempts,
    priority: opts.priority ?? 0,
    createdAt: now,
    updatedAt: now,
    runAt: now + delayMs,
    lastSeq: 1,
  };
  if (opts.idempotencyKey) record.idempotencyKey = opts.idempotencyKey;
  if (opts.parentId) record.parentId = opts.parentId;
  if (opts.group !== undefined) record.group = opts.group;
  const owner = opts.owner;
  if (owner) record.owner = owner.tenant !== undefined ? { key: owner.key, tenant: owner.tenant } : { key: owner.key };
  if (opts.traceparent) record.traceparent = opts.traceparent;
  return record;
}
