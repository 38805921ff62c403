/**
 * The SQLite side of workflows (the "Workflows" section of src/jobs/engine.ts): the journal, park
 * and wake, signals, children. Every write runs inside the engine's group-committed IMMEDIATE
 * transaction (passed in as `write`), and refuses before it changes anything, as the engine's
 * own writes do.
 */
import type Database from 'better-sqlite3';
import { JobError, type TasklaneError, jobNotFound } from '../../../errors.js';
import type { ChildRecord, JournalEntry } from '../../engine.js';
import { FINAL_STATES, type JobRecord, type WaitFor } from '../../types.js';
import { json, rowToRecord, type JobRow } from './queries.js';

/** Schema for workflows (one migration step; see schema.ts). */
export const WORKFLOW_MIGRATION = `
  ALTER TABLE jobs ADD COLUMN parent_id TEXT;
  ALTER TABLE jobs ADD COLUMN waiting_for TEXT;
  -- 0: this child ended while its parent was held, and its child.ended is not yet in the parent's stream.
  ALTER TABLE jobs ADD COLUMN parent_told INTEGER;
  CREATE INDEX jobs_parent ON jobs (parent_id, n) WHERE parent_id IS NOT NULL;
  CREATE INDEX jobs_waiting ON jobs (run_at) WHERE state = 'waiting';
  CREATE TABLE job_journal (
    job_id TEXT NOT NULL,
    key TEXT NOT NULL,
    pos INTEGER,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    PRIMARY KEY (job_id, key)
  ) WITHOUT ROWID;
  CREATE TABLE job_signals (
    job_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (job_id, n)
  ) WITHOUT ROWID;
`;

interface JournalRow {
  key: string;
  pos: number | null;
  status: JournalEntry['status'];
  result: string | null;
  error: string | null;
  started_at: number;
  ended_at: number | null;
}

/** What the store needs from the engine that owns the connection. */
export interface WorkflowStoreHost {
  write<T>(fn: () => T): Promise<T>;
  run<T>(fn: () => T): T;
  lostOrMissing(id: string): TasklaneError;
}

const WAKE_BATCH = 100;
const NEVER = Number.MAX_SAFE_INTEGER;
const CANCELLED = { code: 'TL_ERR_JOB_CANCELLED', message: 'the job was cancelled' };

/** The SQL of every statement of the workflow store, by name (for the plan test). */
export function workflowStatements(db: Database.Database): Record<string, string> {
  return Object.fromEntries(Object.entries(prepareWorkflowQueries(db)).map(([k, st]) => [k, st.source]));
}

function prepareWorkflowQueries(db: Database.Database) {
  return {
    byId: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?'),
    held: db.prepare<[string], { token: string | null; state: string }>('SELECT token, state FROM jobs WHERE id = ?'),
    readJournal: db.prepare<[string], JournalRow>('SELECT * FROM job_journal WHERE job_id = ?'),
    putEntry: db.prepare<[Record<string, unknown>]>(
      `INSERT INTO job_journal (job_id, key, pos, status, result, error, started_at, ended_at)
       VALUES (@id, @key, @pos, @status, @result, @error, @startedAt, @endedAt)
       ON CONFLICT (job_id, key) DO UPDATE SET pos = excluded.pos, status = excluded.status, result = excluded.result,
         error = excluded.error, started_at = excluded.started_at, ended_at = excluded.ended_at`,
    ),
    dropFailed: db.prepare<[string]>("DELETE FROM job_journal WHERE job_id = ? AND status = 'failed'"),
    dropJournal: db.prepare<[string]>('DELETE FROM job_journal WHERE job_id = ?'),
    dropSignals: db.prepare<[string]>('DELETE FROM job_signals WHERE job_id = ?'),
    setParent: db.prepare<[string, number], JobRow>('UPDATE jobs SET parent_id = ? WHERE n = ? RETURNING *'),
    bump: db.prepare<[number, string], JobRow>('UPDATE jobs SET last_seq = last_seq + 1, updated_at = ? WHERE id = ? RETURNING *'),
    insertEvent: db.prepare<[string, number, string, string, number, number | null]>(
      'INSERT INTO job_events (job_id, seq, type, data, at, attempt) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    park: db.prepare<[Record<string, unknown>], JobRow>(
      `UPDATE jobs SET state = 'waiting', waiting_for = @waitingFor, run_at = @runAt, attempt = max(0, attempt - 1),
         token = NULL, lease_until = NULL, updated_at = @now, last_seq = last_seq + 1
       WHERE id = @id AND token = @token AND state = 'running' RETURNING *`,
    ),
    parkCancelled: db.prepare<[Record<string, unknown>], JobRow>(
      `UPDATE jobs SET state = 'cancelled', error = @error, token = NULL, lease_until = NULL, updated_at = @now,
         finished_at = @now, last_seq = last_seq + 1
       WHERE id = @id AND token = @token AND state = 'running' RETURNING *`,
    ),
    wake: db.prepare<[{ now: number; id: string }], JobRow>(
      `UPDATE jobs SET state = 'queued', waiting_for = NULL, run_at = @now, updated_at = @now, last_seq = last_seq + 1
       WHERE id = @id AND state = 'waiting' RETURNING *`,
    ),
    dueHead: db.prepare<[number], { n: number }>(
      `SELECT n FROM jobs INDEXED BY jobs_waiting WHERE state = 'waiting' AND run_at <= ? LIMIT 1`,
    ),
    due: db.prepare<[number, number], { id: string }>(
      `SELECT id FROM jobs INDEXED BY jobs_waiting WHERE state = 'waiting' AND run_at <= ? ORDER BY run_at LIMIT ?`,
    ),
    addSignal: db.prepare<[{ id: string; name: string; payload: string; now: number }]>(
      `INSERT INTO job_signals (job_id, n, name, payload, at)
       VALUES (@id, coalesce((SELECT max(n) FROM job_signals WHERE job_id = @id), 0) + 1, @name, @payload, @now)`,
    ),
    oldestSignal: db.prepare<[string, string], { n: number; payload: string }>(
      'SELECT n, payload FROM job_signals WHERE job_id = ? AND name = ? ORDER BY n LIMIT 1',
    ),
    dropSignal: db.prepare<[string, number]>('DELETE FROM job_signals WHERE job_id = ? AND n = ?'),
    children: db.prepare<[string], JobRow>('SELECT * FROM jobs INDEXED BY jobs_parent WHERE parent_id = ? ORDER BY n'),
    untold: db.prepare<[string], JobRow>('SELECT * FROM jobs INDEXED BY jobs_parent WHERE parent_id = ? AND parent_told = 0 ORDER BY n'),
    setTold: db.prepare<[number | null, number]>('UPDATE jobs SET parent_told = ? WHERE n = ?'),
    unfinished: db.prepare<[string], { c: number }>(
      `SELECT count(*) AS c FROM jobs WHERE id IN (SELECT value FROM json_each(?)) AND state NOT IN ('succeeded', 'dead', 'cancelled')`,
    ),
  };
}

export class SqliteWorkflows {
  readonly #host: WorkflowStoreHost;
  readonly #q: ReturnType<typeof prepareWorkflowQueries>;

  constructor(db: Database.Database, host: WorkflowStoreHost) {
    this.#host = host;
    this.#q = prepareWorkflowQueries(db);
  }

  async readJournal(id: string): Promise<JournalEntry[]> {
    return this.#host.run(() => this.#q.readJournal.all(id).map(rowToEntry));
  }

  writeJournal(id: string, token: string, entries: readonly JournalEntry[]): Promise<void> {
    return this.#host.write(() => {
      this.#fence(id, token);
      this.#put(id, entries);
    });
  }

  park(id: string, token: string, waitFor: WaitFor, entries: readonly JournalEntry[] = []): Promise<JobRecord> {
    return this.#host.write(() => {
      const held = this.#fence(id, token);
      const now = Date.now();
      this.#put(id, entries);
      // Asked to cancel while it ran: parking would leave nobody to see the request.
      if (held.cancel_requested === 1) {
        const row = this.#q.parkCancelled.get({ id, token, error: json(CANCELLED), now })!;
        this.#event(row, 'cancelled', { error: CANCELLED }, now);
        this.ended(row, now);
        return rowToRecord(row);
      }
      for (const child of this.#q.untold.all(id)) {
        this.#q.setTold.run(null, child.n);
        this.#event(this.#q.bump.get(now, id)!, 'child.ended', childEnded(child), now);
      }
      const runAt = waitFor.kind === 'sleep' ? waitFor.until : waitFor.kind === 'signal' ? (waitFor.timeoutAt ?? NEVER) : NEVER;
      let row = this.#q.park.get({ id, token, waitingFor: json(waitFor), runAt, now })!;
      this.#event(row, 'waiting', { waitingFor: waitFor }, now);
      const over =
        waitFor.kind === 'sleep'
          ? waitFor.until <= now
          : waitFor.kind === 'signal'
            ? this.#q.oldestSignal.get(id, waitFor.name) !== undefined
            : this.#q.unfinished.get(JSON.stringify(waitFor.ids))!.c === 0;
      if (over)
        row =
          this.#wake(
            id,
            waitFor.kind === 'sleep'
              ? { by: 'time' }
              : waitFor.kind === 'signal'
                ? { by: 'signal', name: waitFor.name }
                : { by: 'children' },
            now,
          ) ?? row;
      return rowToRecord(row);
    });
  }

  async wakeDue(): Promise<number> {
    // A read first: an idle timer never takes the write lock other processes may want.
    if (!this.#host.run(() => this.#q.dueHead.get(Date.now()))) return 0;
    return this.#host.write(() => {
      const now = Date.now();
      let woken = 0;
      for (const { id } of this.#q.due.all(now, WAKE_BATCH)) if (this.#wake(id, { by: 'time' }, now)) woken++;
      return woken;
    });
  }

  signal(id: string, name: string, payload: unknown): Promise<JobRecord> {
    return this.#host.write(() => {
      const row = this.#q.byId.get(id);
      if (!row) throw jobNotFound(id);
      if (FINAL_STATES.has(row.state)) {
        throw new JobError('TL_ERR_JOB_STATE', `job ${id} is already ${row.state}; signals go to jobs that have not ended`, {
          details: { jobId: id, state: row.state, signal: name },
        });
      }
      const now = Date.now();
      this.#q.addSignal.run({ id, name, payload: json(payload), now });
      const waiting = row.state === 'waiting' && row.waiting_for ? (JSON.parse(row.waiting_for) as WaitFor) : undefined;
      if (waiting?.kind === 'signal' && waiting.name === name) return rowToRecord(this.#wake(id, { by: 'signal', name }, now)!);
      return rowToRecord(row);
    });
  }

  takeSignal(
    id: string,
    token: string,
    name: string,
    entry: Pick<JournalEntry, 'key' | 'pos' | 'startedAt'>,
  ): Promise<{ payload: unknown } | undefined> {
    return this.#host.write(() => {
      this.#fence(id, token);
      const found = this.#q.oldestSignal.get(id, name);
      if (!found) return undefined;
      this.#q.dropSignal.run(id, found.n);
      const payload = JSON.parse(found.payload) as unknown;
      this.#put(id, [{ ...entry, status: 'completed', result: payload, endedAt: Date.now() }]);
      return { payload };
    });
  }

  async children(id: string): Promise<ChildRecord[]> {
    return this.#host.run(() =>
      this.#q.children.all(id).map((row) => {
        const child: ChildRecord = { id: row.id, task: row.task, state: row.state };
        if (row.state === 'succeeded') child.result = row.result === null ? null : JSON.parse(row.result);
        if (row.error !== null) child.error = JSON.parse(row.error);
        return child;
      }),
    );
  }

  // ---- Hooks the engine calls inside its own write functions.

  /** After an insert with opts.parentId: the row with its parent recorded. */
  adopt(row: JobRow, parentId: string | undefined): JobRow {
    if (parentId === undefined || row.parent_id === parentId) return row;
    return this.#q.setParent.get(parentId, row.n) ?? row;
  }

  /** A job reached a final state (row as returned): its parent hears of it. */
  ended(row: JobRow, now: number): void {
    if (!row.parent_id || !FINAL_STATES.has(row.state)) return;
    const parent = this.#q.byId.get(row.parent_id);
    if (!parent || FINAL_STATES.has(parent.state)) return;
    // A held parent's stream belongs to its holder: told at its next park instead.
    if (parent.state === 'running') {
      this.#q.setTold.run(0, row.n);
      return;
    }
    this.#event(this.#q.bump.get(now, parent.id)!, 'child.ended', childEnded(row), now);
    const waiting = parent.state === 'waiting' && parent.waiting_for ? (JSON.parse(parent.waiting_for) as WaitFor) : undefined;
    if (waiting?.kind === 'children' && waiting.ids.includes(row.id) && this.#q.unfinished.get(JSON.stringify(waiting.ids))!.c === 0) {
      this.#wake(parent.id, { by: 'children' }, now);
    }
  }

  /** A dead or cancelled job goes back to the queue by hand: its failed entries run again. */
  retried(id: string): void {
    this.#q.dropFailed.run(id);
  }

  /** The job is being deleted (retention). */
  deleted(id: string): void {
    this.#q.dropJournal.run(id);
    this.#q.dropSignals.run(id);
  }

  #fence(id: string, token: string): JobRow {
    const row = this.#q.byId.get(id);
    if (!row || row.token !== token || row.state !== 'running') throw this.#host.lostOrMissing(id);
    return row;
  }

  #put(id: string, entries: readonly JournalEntry[]): void {
    for (const e of entries) {
      this.#q.putEntry.run({
        id,
        key: e.key,
        pos: e.pos ?? null,
        status: e.status,
        result: e.result === undefined ? null : json(e.result),
        error: e.error === undefined ? null : json(e.error),
        startedAt: e.startedAt,
        endedAt: e.endedAt ?? null,
      });
    }
  }

  #wake(id: string, data: { by: string; name?: string }, now: number): JobRow | undefined {
    const row = this.#q.wake.get({ now, id });
    if (row) this.#event(row, 'woken', data, now);
    return row;
  }

  #event(row: JobRow, type: string, data: unknown, at: number): void {
    this.#q.insertEvent.run(row.id, row.last_seq, type, json(data), at, row.attempt);
  }
}

function childEnded(row: JobRow): Record<string, unknown> {
  const data: Record<string, unknown> = { id: row.id, task: row.task, state: row.state };
  if (row.error !== null) data.error = JSON.parse(row.error);
  return data;
}

function rowToEntry(row: JournalRow): JournalEntry {
  const e: JournalEntry = { key: row.key, status: row.status, startedAt: row.started_at };
  if (row.pos !== null) e.pos = row.pos;
  if (row.result !== null) e.result = JSON.parse(row.result);
  if (row.error !== null) e.error = JSON.parse(row.error);
  if (row.ended_at !== null) e.endedAt = row.ended_at;
  return e;
}
