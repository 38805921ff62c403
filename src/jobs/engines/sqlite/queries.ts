/**
 * Every statement the SQLite engine runs, prepared once per connection, and the row ↔ record
 * mapping. Each statement touches one job (or one small batch) and reads through an index in the
 * order it needs, so a call holds the loop for microseconds however many jobs the file holds
 * (test/engines/sqlite-plans.test.ts pins every plan).
 */
import type Database from 'better-sqlite3';
import { JOB_STATES, type JobEvent, type JobEventType, type JobRecord, type JobState } from '../../types.js';

export interface JobRow {
  n: number;
  id: string;
  task: string;
  state: JobState;
  input: string;
  result: string | null;
  error: string | null;
  attempt: number;
  max_attempts: number;
  priority: number;
  idem_key: string | null;
  created_at: number;
  updated_at: number;
  run_at: number;
  started_at: number | null;
  finished_at: number | null;
  progress: string | null;
  last_seq: number;
  worker_id: string | null;
  token: string | null;
  lease_until: number | null;
  cancel_requested: number;
  owner_key: string | null;
  owner_tenant: string | null;
  /** Workflows (journal.ts). */
  parent_id: string | null;
  waiting_for: string | null;
  parent_told: number | null;
  traceparent: string | null;
  /** Limit group (tasks with rateLimit/concurrency); such jobs wait in the internal state 'held'. */
  grp?: string | null;
}

export interface EventRow {
  job_id: string;
  seq: number;
  type: JobEventType;
  data: string;
  at: number;
  attempt: number | null;
}

// 'held' last: the internal state of jobs waiting for a limit (listed with the queued ones).
const STATES = [...JOB_STATES, 'held'] as JobState[];

function perState<T>(make: (state: JobState) => T): Record<JobState, T> {
  return Object.fromEntries(STATES.map((st) => [st, make(st)])) as Record<JobState, T>;
}

export function rowToRecord(row: JobRow): JobRecord {
  const record: JobRecord = {
    id: row.id,
    task: row.task,
    // 'held' (waiting for a limit, see limits.ts) is queued to everyone outside the store.
    state: (row.state as string) === 'held' ? 'queued' : row.state,
    input: JSON.parse(row.input),
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    priority: row.priority,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    runAt: row.run_at,
    lastSeq: row.last_seq,
  };
  if (row.result !== null) record.result = JSON.parse(row.result);
  if (row.error !== null) record.error = JSON.parse(row.error);
  if (row.idem_key !== null) record.idempotencyKey = row.idem_key;
  if (row.started_at !== null) record.startedAt = row.started_at;
  if (row.finished_at !== null) record.finishedAt = row.finished_at;
  if (row.progress !== null) record.progress = JSON.parse(row.progress);
  if (row.worker_id !== null) record.workerId = row.worker_id;
  if (row.parent_id) record.parentId = row.parent_id;
  if (row.waiting_for) record.waitingFor = JSON.parse(row.waiting_for);
  if (row.grp !== undefined && row.grp !== null) record.group = row.grp;
  if (row.owner_key !== null)
    record.owner = row.owner_tenant !== null ? { key: row.owner_key, tenant: row.owner_tenant } : { key: row.owner_key };
  if (row.traceparent) record.traceparent = row.traceparent;
  return record;
}

export function rowToEvent(row: EventRow): JobEvent {
  const event: JobEvent = { jobId: row.job_id, seq: row.seq, type: row.type, data: JSON.parse(row.data), at: row.at };
  if (row.attempt !== null) event.attempt = row.attempt;
  return event;
}

/** JSON text for a column; undefined is stored as null. */
export function json(value: unknown): string {
  return JSON.stringify(value ?? null);
}

type S<P extends unknown[], R = unknown> = Database.Statement<P, R>;
type Named = [Record<string, unknown>];

export interface Queries {
  insertJob: S<Named, JobRow>;
  byId: S<[string], JobRow>;
  /** lastSeq of each id in a JSON array of ids. */
  lastSeqs: S<[string], { id: string; last_seq: number }>;
  probe: S<[number]>;
  ping: S<[], { ok: number }>;
  prunable: S<[number, number, number, number], { id: string }>;
  deleteJob: S<[string]>;
  deleteEvents: S<[string]>;
  byIdem: S<[string], JobRow>;
  insertEvent: S<[string, number, string, string, number, number | null]>;
  readEvents: S<[string, number, number], EventRow>;
  /** The best ready job of one task (claim order), read through that task's slice of the ready index. */
  readyHead: S<[string], { n: number; priority: number; run_at: number }>;
  /** Is a delayed job of this task due? */
  dueDelayed: S<[string, number], { n: number }>;
  /** Delayed jobs of one task that are due become queued, a bounded batch at a time. */
  promote: S<[string, number, number]>;
  claim: S<Named, JobRow>;
  /** Takes up to @limit ready jobs of one task in one statement (rows in no set order). */
  claimMany: S<Named, JobRow>;
  /** Counter rows, all or of one owner key and/or tenant (null = any). */
  counts: S<[{ key: string | null; tenant: string | null }], { task: string; state: JobState; n: number }>;
  renew: S<[number, number, string, string], { cancel_requested: number }>;
  finish: S<Named, JobRow>;
  release: S<Named, JobRow>;
  expired: S<[number, number], JobRow>;
  recover: S<Named, JobRow>;
  cancelWaiting: S<Named, JobRow>;
  requestCancel: S<[number, string], JobRow>;
  retry: S<Named, JobRow>;
  appendHead: S<[number, string | null, number, string, string, number], { n: number }>;
  list: {
    all: S<[number, number], JobRow>;
    task: S<[string, number, number], JobRow>;
    /** One statement per state, the state written out (the plan is pinned in a test). */
    state: Record<JobState, S<[number, number], JobRow>>;
    both: Record<JobState, S<[string, number, number], JobRow>>;
    /** One owner's jobs (key and/or tenant), optionally of one task and state; params (before n, limit). */
    owned(
      owner: { key?: string; tenant?: string },
      task?: string,
      state?: JobState,
    ): { source: string; all(before: number, limit: number): JobRow[] };
  };
}

export function prepare(db: Database.Database): Queries {
  const listCols = 'SELECT * FROM jobs';
  // Owner listings: one statement per filter shape, made on first use (at most 2 x 2 x 7 shapes).
  const ownedStatements = new Map<string, S<[Record<string, unknown>], JobRow>>();
  const owned = (owner: { key?: string; tenant?: string }, task?: string, state?: JobState) => {
    const shape = `${owner.key !== undefined ? 'k' : ''}${owner.tenant !== undefined ? 't' : ''}${task !== undefined ? 'T' : ''}:${state ?? ''}`;
    let stmt = ownedStatements.get(shape);
    if (!stmt) {
      const where = [
        // INDEXED BY: walk one owner's entries newest first instead of the whole table.
        ...(owner.key !== undefined ? ['owner_key = @key'] : []),
        ...(owner.tenant !== undefined ? ['owner_tenant = @tenant'] : []),
        ...(task !== undefined ? ['task = @task'] : []),
        ...(state !== undefined ? [`state = '${state}'`] : []),
        'n < @before',
      ];
      // With a state: the owner's slice of that state (a sparse state reads a page, not every job of the owner).
      const index = (owner.key !== undefined ? 'jobs_owner' : 'jobs_tenant') + (state !== undefined ? '_state' : '');
      stmt = db.prepare<[Record<string, unknown>], JobRow>(
        `${listCols} INDEXED BY ${index} WHERE ${where.join(' AND ')} ORDER BY n DESC LIMIT @limit`,
      );
      ownedStatements.set(shape, stmt);
    }
    const s = stmt;
    return {
      source: s.source,
      all: (before: number, limit: number) => s.all({ key: owner.key, tenant: owner.tenant, task, before, limit }),
    };
  };
  return {
    insertJob: db.prepare<[Record<string, unknown>], JobRow>(
      `INSERT INTO jobs (id, task, state, input, attempt, max_attempts, priority, idem_key, created_at, updated_at, run_at, last_seq, owner_key, owner_tenant, traceparent)
       VALUES (@id, @task, @state, @input, 0, @maxAttempts, @priority, @idem, @now, @now, @runAt, 1, @ownerKey, @ownerTenant, @traceparent)
       ON CONFLICT (idem_key) WHERE idem_key IS NOT NULL DO NOTHING RETURNING *`,
    ),
    byId: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?'),
    lastSeqs: db.prepare<[string], { id: string; last_seq: number }>(
      'SELECT id, last_seq FROM jobs WHERE id IN (SELECT value FROM json_each(?))',
    ),
    ping: db.prepare<[], { ok: number }>('SELECT 1 AS ok'),
    probe: db.prepare<[number]>('INSERT INTO store_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at'),
    // Walks the finish-time index up to the later cut and keeps the rows each state's cut allows.
    prunable: db.prepare<[number, number, number, number], { id: string }>(
      `SELECT id FROM jobs INDEXED BY jobs_finished
       WHERE state IN ('succeeded', 'dead', 'cancelled') AND finished_at < ?
         AND ((state = 'succeeded' AND finished_at < ?) OR (state <> 'succeeded' AND finished_at < ?))
       ORDER BY finished_at LIMIT ?`,
    ),
    deleteJob: db.prepare<[string]>('DELETE FROM jobs WHERE id = ?'),
    deleteEvents: db.prepare<[string]>('DELETE FROM job_events WHERE job_id = ?'),
    byIdem: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE idem_key = ?'),
    insertEvent: db.prepare<[string, number, string, string, number, number | null]>(
      'INSERT INTO job_events (job_id, seq, type, data, at, attempt) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    readEvents: db.prepare<[string, number, number], EventRow>(
      'SELECT * FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?',
    ),
    // Claims go task by task, each through its own slice of the ready index (task first), so a
    // task with nothing queued costs one index probe however large another task's backlog is.
    readyHead: db.prepare<[string], { n: number; priority: number; run_at: number }>(
      `SELECT n, priority, run_at FROM jobs INDEXED BY jobs_ready_task WHERE state = 'queued' AND task = ?
       ORDER BY priority DESC, run_at, n LIMIT 1`,
    ),
    dueDelayed: db.prepare<[string, number], { n: number }>(
      `SELECT n FROM jobs INDEXED BY jobs_delayed_task WHERE state = 'delayed' AND task = ? AND run_at <= ? LIMIT 1`,
    ),
    promote: db.prepare<[string, number, number]>(
      `UPDATE jobs SET state = 'queued' WHERE n IN
         (SELECT n FROM jobs INDEXED BY jobs_delayed_task WHERE state = 'delayed' AND task = ? AND run_at <= ? ORDER BY run_at LIMIT ?)`,
    ),
    // Takes the row readyHead found; inside the IMMEDIATE transaction, so two processes never
    // claim the same row (the state check refuses a row taken since the read).
    claim: db.prepare<[Record<string, unknown>], JobRow>(
      `UPDATE jobs SET state = 'running', attempt = attempt + 1, token = @token, worker_id = @workerId,
         lease_until = @leaseUntil, started_at = @now, updated_at = @now, last_seq = last_seq + 1, cancel_requested = 0
       WHERE n = @n AND state = 'queued'
       RETURNING *`,
    ),
    // The batch form for a lane of one task: one statement for every job of the pass. Each token
    // is the pass's random base and the row number, so it is unique per attempt.
    claimMany: db.prepare<[Record<string, unknown>], JobRow>(
      `UPDATE jobs SET state = 'running', attempt = attempt + 1, token = @base || '.' || n, worker_id = @workerId,
         lease_until = @leaseUntil, started_at = @now, updated_at = @now, last_seq = last_seq + 1, cancel_requested = 0
       WHERE n IN (SELECT n FROM jobs INDEXED BY jobs_ready_task WHERE state = 'queued' AND task = @task
                   ORDER BY priority DESC, run_at, n LIMIT @limit)
       RETURNING *`,
    ),
    counts: db.prepare<[{ key: string | null; tenant: string | null }], { task: string; state: JobState; n: number }>(
      `SELECT task, state, sum(n) AS n FROM job_counts WHERE n > 0 AND (@key IS NULL OR owner_key = @key) AND (@tenant IS NULL OR owner_tenant = @tenant)
       GROUP BY task, state`,
    ),
    renew: db.prepare<[number, number, string, string], { cancel_requested: number }>(
      `UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND token = ? AND state = 'running' RETURNING cancel_requested`,
    ),
    finish: db.prepare<[Record<string, unknown>], JobRow>(
      `UPDATE jobs SET state = @state, result = @result, error = @error, run_at = @runAt, updated_at = @now,
         finished_at = @finishedAt, token = NULL, lease_until = NULL, last_seq = last_seq + 1
       WHERE id = @id AND token = @token AND state = 'running' RETURNING *`,
    ),
    release: db.prepare<[Record<string, unknown>], JobRow>(
      `UPDATE jobs SET state = 'queued', attempt = max(0, attempt - 1), run_at = @now, updated_at = @now,
         token = NULL, lease_until = NULL, last_seq = last_seq + 1
       WHERE id = @id AND token = @token AND state = 'running' RETURNING *`,
    ),
    expired: db.prepare<[number, number], JobRow>(
      `SELECT * FROM jobs INDEXED BY jobs_lease WHERE state = 'running' AND lease_until < ? ORDER BY lease_until LIMIT ?`,
    ),
    recover: db.prepare<[Record<string, unknown>], JobRow>(
      `UPDATE jobs SET state = @state, error = @error, run_at = @now, updated_at = @now, finished_at = @finishedAt,
         token = NULL, lease_until = NULL, last_seq = last_seq + 1
       WHERE id = @id AND token IS @token AND state = 'running' RETURNING *`,
    ),
    cancelWaiting: db.prepare<[Record<string, unknown>], JobRow>(
      `UPDATE jobs SET state = 'cancelled', error = @error, updated_at = @now, finished_at = @now, last_seq = last_seq + 1,
         waiting_for = NULL
       WHERE id = @id AND state IN ('queued', 'delayed', 'waiting', 'held') RETURNING *`,
    ),
    requestCancel: db.prepare<[number, string], JobRow>(
      `UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ? AND state = 'running' RETURNING *`,
    ),
    retry: db.prepare<[Record<string, unknown>], JobRow>(
      `UPDATE jobs SET state = CASE WHEN grp IS NULL THEN 'queued' ELSE 'held' END, attempt = 0, result = NULL, error = NULL, started_at = NULL, finished_at = NULL,
         run_at = @now, updated_at = @now, token = NULL, lease_until = NULL, cancel_requested = 0, worker_id = NULL,
         waiting_for = NULL, last_seq = last_seq + 1
       WHERE id = @id AND state IN ('dead', 'cancelled') RETURNING *`,
    ),
    appendHead: db.prepare<[number, string | null, number, string, string, number], { n: number }>(
      `UPDATE jobs SET last_seq = ?, progress = coalesce(?, progress), updated_at = ?
       WHERE id = ? AND token = ? AND state = 'running' AND last_seq = ? RETURNING n`,
    ),
    list: {
      all: db.prepare<[number, number], JobRow>(`${listCols} WHERE n < ? ORDER BY n DESC LIMIT ?`),
      task: db.prepare<[string, number, number], JobRow>(
        `${listCols} INDEXED BY jobs_task WHERE task = ? AND n < ? ORDER BY n DESC LIMIT ?`,
      ),
      state: perState((st) =>
        db.prepare<[number, number], JobRow>(`${listCols} INDEXED BY jobs_state WHERE state = '${st}' AND n < ? ORDER BY n DESC LIMIT ?`),
      ),
      both: perState((st) =>
        db.prepare<[string, number, number], JobRow>(
          `${listCols} INDEXED BY jobs_task_state WHERE task = ? AND state = '${st}' AND n < ? ORDER BY n DESC LIMIT ?`,
        ),
      ),
      owned,
    },
  };
}
