/**
 * The SQLite engine's job-changing steps that take more than one statement, as synchronous
 * functions over the prepared statements (each runs inside one group-commit write): insert a
 * job, end an attempt, give a lease back.
 */
import { randomBytes } from 'node:crypto';
import type { TasklaneError } from '../../../errors.js';
import type { EngineEnqueueOptions, FinishOutcome } from '../../engine.js';
import type { JobRecord } from '../../types.js';
import { CANCELLED, finishEvent, leaseLost, notFound } from '../common.js';
import { statusEvent } from './claims.js';
import { json, rowToRecord, type JobRow, type Queries } from './queries.js';

/** What workflows hook into these steps (journal.ts): a child joins its parent, a job's end may wake one. */
export interface WorkflowHooks {
  adopt(row: JobRow, parentId: string | undefined): JobRow;
  ended(row: JobRow, now: number): void;
}

/** Stores one new job with its `enqueued` event; an idempotency key already used answers that job. */
export function insertJob(
  q: Queries,
  task: string,
  input: unknown,
  opts: EngineEnqueueOptions,
  now: number,
  wf: WorkflowHooks,
  limits?: { hold(row: JobRow, group: string): void },
): JobRecord {
  const delayMs = Math.max(0, opts.delayMs ?? 0);
  const row = q.insertJob.get({
    id: uuidv7(now),
    task,
    state: delayMs > 0 ? 'delayed' : 'queued',
    input: json(input),
    maxAttempts: opts.maxAttempts,
    priority: Math.round(opts.priority ?? 0),
    idem: opts.idempotencyKey ?? null,
    ownerKey: opts.owner?.key ?? null,
    ownerTenant: opts.owner?.tenant ?? null,
    traceparent: opts.traceparent ?? null,
    now,
    runAt: now + delayMs,
  });
  // No row: the idempotency key names an existing job, which is the answer.
  if (!row) return rowToRecord(q.byIdem.get(opts.idempotencyKey!)!);
  // A job with a limit group waits held until its gate admits it (limits.ts).
  if (opts.group !== undefined) limits?.hold(row, opts.group);
  statusEvent(q, row, 'enqueued', {}, now);
  return rowToRecord(wf.adopt(row, opts.parentId));
}

/** Ends the attempt holding `token` with its state change and status event; refuses a stale token. */
export function finishAttempt(q: Queries, id: string, token: string, end: FinishOutcome, now: number, wf: WorkflowHooks): JobRecord {
  const state =
    end.outcome === 'succeeded' ? 'succeeded' : end.outcome === 'retry' ? (end.runAt > now ? 'delayed' : 'queued') : end.outcome;
  const error = end.outcome === 'succeeded' ? null : (end.error ?? null);
  const row = q.finish.get({
    id,
    token,
    state,
    result: end.outcome === 'succeeded' ? json(end.result) : null,
    error: error ? json(error) : null,
    runAt: end.outcome === 'retry' ? end.runAt : now,
    finishedAt: end.outcome === 'retry' ? null : now,
    now,
  });
  if (!row) throw lostOrMissing(q, id);
  const { type, data } = finishEvent(end);
  statusEvent(q, row, type, data, now);
  wf.ended(row, now);
  return rowToRecord(row);
}

/** Gives a held job back (queued, attempt not counted), or ends it cancelled when a cancel is pending. */
export function releaseAttempt(q: Queries, id: string, token: string, now: number, wf: WorkflowHooks): JobRecord | undefined {
  const held = q.byId.get(id);
  if (!held || held.token !== token || held.state !== 'running') return undefined;
  if (held.cancel_requested === 1) return finishAttempt(q, id, token, { outcome: 'cancelled', error: CANCELLED }, now, wf);
  const row = q.release.get({ id, token, now })!;
  statusEvent(q, row, 'retrying', { released: true, runAt: now }, now);
  return rowToRecord(row);
}

/** Why a fenced statement matched no row: the job is gone, or another attempt holds it. */
export function lostOrMissing(q: Queries, id: string): TasklaneError {
  return q.byId.get(id) ? leaseLost(id) : notFound(id);
}

/** A UUIDv7: time-ordered, so new jobs and their events land at the end of their indexes. */
function uuidv7(ms: number): string {
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
