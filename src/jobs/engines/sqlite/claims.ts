/**
 * The SQLite engine's lease side, as synchronous steps over the prepared statements (the engine
 * runs each inside a read or a group-commit write): which tasks have due work, the claim pass
 * for several lanes at once, and the recovery of expired leases.
 */
import { randomUUID } from 'node:crypto';
import type { Claim, ClaimAsk } from '../../engine.js';
import type { JobEventType } from '../../types.js';
import { CANCELLED } from '../common.js';
import { json, rowToRecord, type JobRow, type Queries } from './queries.js';

/** Most jobs one claim pass takes, and most delayed jobs of one task it promotes (bounded work per write). */
const CLAIM_BATCH = 128;
const PROMOTE_BATCH = 256;

/** Writes a status event at the row's (already incremented) last_seq. */
export function statusEvent(q: Queries, row: JobRow, type: JobEventType, data: unknown, at: number): void {
  q.insertEvent.run(row.id, row.last_seq, type, json(data), at, row.attempt);
}

/** The tasks asked for that have a queued or due delayed job (a read: an idle poll takes no write lock). */
export function dueTasks(q: Queries, asks: readonly ClaimAsk[], now: number): Set<string> {
  const set = new Set<string>();
  for (const a of asks) for (const t of a.tasks) if (!set.has(t) && (q.readyHead.get(t) || q.dueDelayed.get(t, now))) set.add(t);
  return set;
}

/**
 * One write for every ask: promotes the due delayed jobs of the due tasks, then takes up to `n`
 * jobs per ask, each through its tasks' slices of the ready index. One array per ask, in order.
 */
export function claimPass(q: Queries, due: ReadonlySet<string>, asks: readonly ClaimAsk[], workerId: string, leaseMs: number): Claim[][] {
  const now = Date.now();
  for (const t of due) q.promote.run(t, now, PROMOTE_BATCH);
  let budget = CLAIM_BATCH;
  return asks.map((a) => {
    const out: Claim[] = [];
    const tasks = a.tasks.filter((t) => due.has(t));
    if (tasks.length === 1 && a.n > 1 && budget > 1) {
      // One task: every job of the pass in one statement, handed out in claim order.
      const rows = q.claimMany.all({
        task: tasks[0],
        limit: Math.min(a.n, budget),
        base: randomUUID(),
        workerId,
        leaseUntil: now + leaseMs,
        now,
      });
      rows.sort((x, y) => y.priority - x.priority || x.run_at - y.run_at || x.n - y.n);
      budget -= rows.length;
      for (const row of rows) {
        statusEvent(q, row, 'started', { attempt: row.attempt, workerId }, now);
        out.push({ job: rowToRecord(row), token: row.token! });
      }
      return out;
    }
    while (out.length < a.n && budget > 0 && tasks.length > 0) {
      // The best head among this lane's tasks, in claim order: priority, then runAt, then insertion.
      let best: { n: number; priority: number; run_at: number } | undefined;
      for (let i = tasks.length - 1; i >= 0; i--) {
        const head = q.readyHead.get(tasks[i]!);
        if (!head) tasks.splice(i, 1);
        else if (
          !best ||
          head.priority > best.priority ||
          (head.priority === best.priority && (head.run_at < best.run_at || (head.run_at === best.run_at && head.n < best.n)))
        )
          best = head;
      }
      if (!best) break;
      const token = randomUUID();
      const row = q.claim.get({ n: best.n, token, workerId, leaseUntil: now + leaseMs, now });
      if (!row) break;
      budget--;
      statusEvent(q, row, 'started', { attempt: row.attempt, workerId }, now);
      out.push({ job: rowToRecord(row), token });
    }
    return out;
  });
}

/**
 * Moves up to `limit` running jobs whose lease expired: back to the queue with the attempt
 * counted, dead after the last attempt, cancelled when a cancel was pending. Returns how many were read.
 */
export function recoverBatch(q: Queries, limit: number, wf: { ended(row: JobRow, now: number): void }): number {
  const now = Date.now();
  const rows = q.expired.all(now, limit);
  for (const held of rows) {
    const lost = {
      code: 'TL_ERR_JOB_LEASE_LOST',
      message: `the lease of attempt ${held.attempt} expired (worker ${held.worker_id ?? 'unknown'} stopped renewing it)`,
    };
    const [state, type, data, error]: [string, JobEventType, unknown, unknown] =
      held.cancel_requested === 1
        ? ['cancelled', 'cancelled', { error: CANCELLED }, CANCELLED]
        : held.attempt >= held.max_attempts
          ? ['dead', 'dead', { error: lost }, lost]
          : ['queued', 'retrying', { error: lost, runAt: now }, lost];
    const row = q.recover.get({
      id: held.id,
      token: held.token,
      state,
      error: json(error),
      now,
      finishedAt: state === 'queued' ? null : now,
    });
    if (row) {
      statusEvent(q, row, type, data, now);
      wf.ended(row, now);
    }
  }
  return rows.length;
}
