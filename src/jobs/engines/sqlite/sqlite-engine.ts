/**
 * The embedded job engine: one SQLite file (better-sqlite3, WAL), safe to share between
 * processes. Every change is one small IMMEDIATE transaction (take the write lock first, so two
 * processes never both read "free" and then both write), and every claim or finish is an
 * UPDATE … RETURNING fenced by the attempt's token.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { JobError, NotFoundError, StoreError, TasklaneError, ValidationError, jobNotFound } from '../../../errors.js';
import type {
  Claim,
  ClaimAsk,
  ClaimOptions,
  EngineEnqueueOptions,
  FinishOutcome,
  JobCounts,
  JobEngine,
  PendingEvent,
  PruneCut,
} from '../../engine.js';
import type { ChildRecord, JournalEntry } from '../../engine.js';
import { JOB_STATES, type JobEvent, type JobEventType, type JobRecord, type JobState, type ListQuery, type WaitFor } from '../../types.js';
import { json, prepare, rowToEvent, rowToRecord, type JobRow, type Queries } from './queries.js';
import { storeError } from './faults.js';
import { openSchema } from './schema.js';
import { SqliteWorkflows } from './journal.js';

export interface SqliteEngineOptions {
  /** Database file (its folder is created). */
  path: string;
  /** How long a statement waits for another process's write lock, in ms. Default 5000. */
  busyTimeoutMs?: number;
}

interface PendingWrite {
  fn: () => unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

const LIST_MAX = 500;
const RECOVER_BATCH = 100;
/** Most jobs one claim pass takes, and most delayed jobs of one task it promotes (bounded work per write). */
const CLAIM_BATCH = 128;
const PROMOTE_BATCH = 256;
const STATES: readonly JobState[] = JOB_STATES;
/** Most writes committed together, and the time one batch may take (ms). */
const WRITE_BATCH = 256;
const WRITE_BUDGET_MS = 4;
const CANCELLED = { code: 'TL_ERR_JOB_CANCELLED', message: 'the job was cancelled' };
/** While the store refuses writes, a one-row write is tried this often (ms) to notice it is back. */
const PROBE_MS = 500;

export class SqliteJobEngine implements JobEngine {
  readonly kind = 'sqlite';
  readonly path: string;
  /** The file's format version (`PRAGMA user_version`) when opened, and after its migrations. */
  readonly format: { found: number; now: number };
  readonly #db: Database.Database;
  readonly #q: Queries;
  /** One IMMEDIATE transaction wrapper, reused: it runs the function it is given. */
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;
  #closed = false;
  #writes: PendingWrite[] = [];
  #commitScheduled = false;
  /** The last write failure (disk full, read-only...), until a write succeeds again. */
  #fault?: StoreError;
  #probeTimer?: NodeJS.Timeout;
  /** Journal, park/wake, signals, children (journal.ts). */
  readonly #wf: SqliteWorkflows;

  constructor(options: SqliteEngineOptions) {
    this.path = options.path;
    try {
      mkdirSync(dirname(options.path), { recursive: true });
      this.#db = new Database(options.path);
      this.format = openSchema(this.#db, options.busyTimeoutMs ?? 5_000);
      this.#q = prepare(this.#db);
      this.#transaction = this.#db.transaction((fn: () => unknown) => fn());
      this.#wf = new SqliteWorkflows(this.#db, {
        write: (fn) => this.#write(fn),
        run: (fn) => this.#run(fn),
        lostOrMissing: (id) => this.#lostOrMissing(id),
      });
    } catch (err) {
      // A refusal of our own (a file from a newer tasklane) already says what to do.
      if (TasklaneError.isInstance(err)) throw err;
      throw storeError(err, options.path, 'cannot open the job store');
    }
  }

  async start(): Promise<void> {}

  ready(): true | string {
    if (this.#closed) return 'sqlite job store closed';
    if (this.#fault) return `sqlite job store: ${this.#fault.message}`;
    try {
      this.#q.ping.get();
      return true;
    } catch (err) {
      return `sqlite job store ${this.path}: ${(err as Error).message}`;
    }
  }

  /** The write failure the store is in, if any (cleared by the next write that succeeds). */
  get fault(): StoreError | undefined {
    return this.#fault;
  }

  async enqueue(task: string, input: unknown, opts: EngineEnqueueOptions): Promise<JobRecord> {
    return this.#write(() => {
      const now = Date.now();
      const delayMs = Math.max(0, opts.delayMs ?? 0);
      const row = this.#q.insertJob.get({
        id: uuidv7(now),
        task,
        state: delayMs > 0 ? 'delayed' : 'queued',
        input: json(input),
        maxAttempts: opts.maxAttempts,
        priority: Math.round(opts.priority ?? 0),
        idem: opts.idempotencyKey ?? null,
        ownerKey: opts.owner?.key ?? null,
        ownerTenant: opts.owner?.tenant ?? null,
        now,
        runAt: now + delayMs,
      });
      // No row: the idempotency key names an existing job, which is the answer.
      if (!row) return rowToRecord(this.#q.byIdem.get(opts.idempotencyKey!)!);
      this.#event(row, 'enqueued', {}, now);
      return rowToRecord(this.#wf.adopt(row, opts.parentId));
    });
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return this.#run(() => {
      const row = this.#q.byId.get(id);
      return row ? rowToRecord(row) : undefined;
    });
  }

  async lastSeqs(ids: readonly string[]): Promise<Map<string, number>> {
    return this.#run(() => new Map(this.#q.lastSeqs.all(JSON.stringify(ids)).map((r) => [r.id, r.last_seq])));
  }

  async prune(cut: PruneCut, limit: number): Promise<number> {
    const n = Math.max(0, Math.floor(limit));
    if (n === 0 || (cut.succeededBefore <= 0 && cut.failedBefore <= 0)) return 0;
    return this.#write(() => {
      const rows = this.#q.prunable.all(Math.max(cut.succeededBefore, cut.failedBefore), cut.succeededBefore, cut.failedBefore, n);
      for (const { id } of rows) {
        this.#q.deleteEvents.run(id);
        this.#wf.deleted(id);
        this.#q.deleteJob.run(id);
      }
      return rows.length;
    });
  }

  async list(q: ListQuery = {}): Promise<{ jobs: JobRecord[]; next?: string }> {
    const limit = Math.min(LIST_MAX, Math.max(1, Math.floor(q.limit ?? 50)));
    if (q.cursor !== undefined && !/^\d+$/.test(q.cursor)) {
      throw new ValidationError('cursor is not one this server returned: pass the "next" of the previous page');
    }
    if (q.state !== undefined && !Object.hasOwn(this.#q.list.state, q.state)) {
      throw new ValidationError(`state must be one of ${Object.keys(this.#q.list.state).join(', ')}, got ${String(q.state)}`);
    }
    const before = q.cursor !== undefined ? Number(q.cursor) : Number.MAX_SAFE_INTEGER;
    return this.#run(() => {
      const L = this.#q.list;
      const rows =
        q.owner && (q.owner.key !== undefined || q.owner.tenant !== undefined)
          ? L.owned(q.owner, q.task, q.state).all(before, limit + 1)
          : q.task && q.state
            ? L.both[q.state].all(q.task, before, limit + 1)
            : q.task
              ? L.task.all(q.task, before, limit + 1)
              : q.state
                ? L.state[q.state].all(before, limit + 1)
                : L.all.all(before, limit + 1);
      const page = rows.slice(0, limit);
      const jobs = page.map(rowToRecord);
      return rows.length > limit ? { jobs, next: String(page[page.length - 1]!.n) } : { jobs };
    });
  }

  async claim(workerId: string, opts: ClaimOptions): Promise<Claim | undefined> {
    const [claims] = await this.claimBatch(workerId, [{ tasks: opts.tasks, n: 1 }], opts.leaseMs);
    return claims?.[0];
  }

  /**
   * One pass for every ask: a read first, per task (an idle poll never takes the write lock other
   * processes may want), then one write that promotes the due delayed jobs of the tasks asked for
   * and takes up to `n` jobs per ask, each through its tasks' slices of the ready index.
   */
  async claimBatch(workerId: string, asks: readonly ClaimAsk[], leaseMs: number): Promise<Claim[][]> {
    const empty = asks.map(() => [] as Claim[]);
    const wanted = asks.filter((a) => a.n > 0 && a.tasks.length > 0);
    if (wanted.length === 0) return empty;
    const due = this.#run(() => {
      const now = Date.now();
      const set = new Set<string>();
      for (const a of wanted)
        for (const t of a.tasks) if (!set.has(t) && (this.#q.readyHead.get(t) || this.#q.dueDelayed.get(t, now))) set.add(t);
      return set;
    });
    if (due.size === 0) return empty;
    return this.#write(() => {
      const now = Date.now();
      for (const t of due) this.#q.promote.run(t, now, PROMOTE_BATCH);
      let budget = CLAIM_BATCH;
      return asks.map((a) => {
        const out: Claim[] = [];
        const tasks = a.tasks.filter((t) => due.has(t));
        while (out.length < a.n && budget > 0 && tasks.length > 0) {
          // The best head among this lane's tasks, in claim order: priority, then runAt, then insertion.
          let best: { n: number; priority: number; run_at: number } | undefined;
          for (let i = tasks.length - 1; i >= 0; i--) {
            const head = this.#q.readyHead.get(tasks[i]!);
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
          const row = this.#q.claim.get({ n: best.n, token, workerId, leaseUntil: now + leaseMs, now });
          if (!row) break;
          budget--;
          this.#event(row, 'started', { attempt: row.attempt, workerId }, now);
          out.push({ job: rowToRecord(row), token });
        }
        return out;
      });
    });
  }

  async counts(tasks: readonly string[] = [], owner?: ListQuery['owner']): Promise<JobCounts> {
    return this.#run(() => {
      const states = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<JobState, number>;
      const byTask: JobCounts['tasks'] = {};
      for (const t of tasks) byTask[t] = {};
      for (const { task, state, n } of this.#q.counts.all({ key: owner?.key ?? null, tenant: owner?.tenant ?? null })) {
        states[state] = (states[state] ?? 0) + n;
        (byTask[task] ??= {})[state] = n;
      }
      return { states, tasks: byTask };
    });
  }

  async renew(id: string, token: string, leaseMs: number): Promise<{ cancelRequested: boolean }> {
    return this.#write(() => {
      const now = Date.now();
      const row = this.#q.renew.get(now + leaseMs, now, id, token);
      if (!row) throw this.#lostOrMissing(id);
      return { cancelRequested: row.cancel_requested === 1 };
    });
  }

  async finish(id: string, token: string, end: FinishOutcome): Promise<JobRecord> {
    return this.#write(() => {
      const now = Date.now();
      const state =
        end.outcome === 'succeeded' ? 'succeeded' : end.outcome === 'retry' ? (end.runAt > now ? 'delayed' : 'queued') : end.outcome;
      const error = end.outcome === 'succeeded' ? null : (end.error ?? null);
      const row = this.#q.finish.get({
        id,
        token,
        state,
        result: end.outcome === 'succeeded' ? json(end.result) : null,
        error: error ? json(error) : null,
        runAt: end.outcome === 'retry' ? end.runAt : now,
        finishedAt: end.outcome === 'retry' ? null : now,
        now,
      });
      if (!row) throw this.#lostOrMissing(id);
      const [type, data]: [JobEventType, unknown] =
        end.outcome === 'succeeded'
          ? ['succeeded', { result: end.result ?? null }]
          : end.outcome === 'retry'
            ? ['retrying', { error: end.error, runAt: end.runAt }]
            : [end.outcome, { error }];
      this.#event(row, type, data, now);
      this.#wf.ended(row, now);
      return rowToRecord(row);
    });
  }

  async release(id: string, token: string): Promise<JobRecord | undefined> {
    return this.#write(() => {
      const now = Date.now();
      const held = this.#q.byId.get(id);
      if (!held || held.token !== token || held.state !== 'running') return undefined;
      if (held.cancel_requested === 1) {
        const row = this.#q.finish.get({
          id,
          token,
          state: 'cancelled',
          result: null,
          error: json(CANCELLED),
          runAt: now,
          finishedAt: now,
          now,
        })!;
        this.#event(row, 'cancelled', { error: CANCELLED }, now);
        this.#wf.ended(row, now);
        return rowToRecord(row);
      }
      const row = this.#q.release.get({ id, token, now })!;
      this.#event(row, 'retrying', { released: true, runAt: now }, now);
      return rowToRecord(row);
    });
  }

  async recoverExpired(): Promise<number> {
    let moved = 0;
    for (;;) {
      const batch = await this.#write(() => {
        const now = Date.now();
        const rows = this.#q.expired.all(now, RECOVER_BATCH);
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
          const row = this.#q.recover.get({
            id: held.id,
            token: held.token,
            state,
            error: json(error),
            now,
            finishedAt: state === 'queued' ? null : now,
          });
          if (row) {
            this.#event(row, type, data, now);
            this.#wf.ended(row, now);
          }
        }
        return rows.length;
      });
      moved += batch;
      if (batch < RECOVER_BATCH) return moved;
      // Yield between batches so a large recovery never holds the loop for long.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async cancel(id: string): Promise<JobRecord> {
    return this.#write(() => {
      const now = Date.now();
      const row = this.#q.cancelWaiting.get({ id, error: json(CANCELLED), now });
      if (row) {
        this.#event(row, 'cancelled', { error: CANCELLED }, now);
        this.#wf.ended(row, now);
        return rowToRecord(row);
      }
      const running = this.#q.requestCancel.get(now, id);
      if (running) return rowToRecord(running);
      const current = this.#q.byId.get(id);
      if (!current) throw notFound(id);
      throw new JobError('TL_ERR_JOB_STATE', `job ${id} is already ${current.state} and cannot be cancelled`, {
        details: { jobId: id, state: current.state },
      });
    });
  }

  async retry(id: string): Promise<JobRecord> {
    return this.#write(() => {
      const before = this.#q.byId.get(id);
      if (!before) throw notFound(id);
      const now = Date.now();
      const row = this.#q.retry.get({ id, now });
      if (!row) {
        throw new JobError('TL_ERR_JOB_STATE', `job ${id} is ${before.state}; only dead or cancelled jobs can be retried`, {
          details: { jobId: id, state: before.state },
        });
      }
      this.#event(row, 'enqueued', { retry: true, from: before.state }, now);
      this.#wf.retried(id);
      return rowToRecord(row);
    });
  }

  async appendEvents(id: string, token: string, events: readonly PendingEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.#write(() => {
      const first = events[0]!.seq;
      const last = events[events.length - 1]!.seq;
      let progress: string | null = null;
      for (let i = events.length - 1; i >= 0; i--) {
        if (events[i]!.type === 'progress') {
          progress = json(events[i]!.data);
          break;
        }
      }
      // Fenced and gap-checked in the same statement: the token still holds the lease and the
      // stored stream ends right before this batch.
      if (!this.#q.appendHead.get(last, progress, Date.now(), id, token, first - 1)) {
        const current = this.#q.byId.get(id);
        if (current && current.token === token) {
          throw new JobError('TL_ERR_JOB_STATE', `events for job ${id} start at seq ${first} but the stream ends at ${current.last_seq}`, {
            details: { jobId: id },
          });
        }
        throw this.#lostOrMissing(id);
      }
      for (const e of events) this.#q.insertEvent.run(id, e.seq, e.type, json(e.data), e.at, e.attempt ?? null);
    });
  }

  async readEvents(id: string, fromSeq: number, limit = Number.MAX_SAFE_INTEGER): Promise<JobEvent[]> {
    return this.#run(() => this.#q.readEvents.all(id, fromSeq, limit).map(rowToEvent));
  }

  // ---- Workflows: see engine.ts; the work is in journal.ts.
  readJournal(id: string): Promise<JournalEntry[]> {
    return this.#wf.readJournal(id);
  }
  writeJournal(id: string, token: string, entries: readonly JournalEntry[]): Promise<void> {
    return this.#wf.writeJournal(id, token, entries);
  }
  park(id: string, token: string, waitFor: WaitFor, entries?: readonly JournalEntry[]): Promise<JobRecord> {
    return this.#wf.park(id, token, waitFor, entries);
  }
  wakeDue(): Promise<number> {
    return this.#wf.wakeDue();
  }
  signal(id: string, name: string, payload: unknown): Promise<JobRecord> {
    return this.#wf.signal(id, name, payload);
  }
  takeSignal(id: string, token: string, name: string, entry: Pick<JournalEntry, 'key' | 'pos' | 'startedAt'>) {
    return this.#wf.takeSignal(id, token, name, entry);
  }
  children(id: string): Promise<ChildRecord[]> {
    return this.#wf.children(id);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Writes already asked for are committed, not dropped.
    while (this.#writes.length > 0) this.#commit();
    this.#closed = true;
    clearTimeout(this.#probeTimer);
    try {
      this.#db.close();
    } catch (err) {
      throw storeError(err, this.path, 'closing the job store');
    }
  }

  /** Writes a status event at the row's (already incremented) last_seq. */
  #event(row: JobRow, type: JobEventType, data: unknown, at: number): void {
    this.#q.insertEvent.run(row.id, row.last_seq, type, json(data), at, row.attempt);
  }

  #lostOrMissing(id: string): TasklaneError {
    if (!this.#q.byId.get(id)) return notFound(id);
    return new JobError('TL_ERR_JOB_LEASE_LOST', `the lease on job ${id} was lost: another worker or a recovery took it`, {
      details: { jobId: id },
    });
  }

  #run<T>(fn: () => T): T {
    if (this.#closed) throw new StoreError('TL_ERR_STORE_UNAVAILABLE', 'the sqlite job store is closed');
    try {
      return fn();
    } catch (err) {
      if (err instanceof TasklaneError) throw err;
      throw storeError(err, this.path, 'job store');
    }
  }

  /**
   * Group commit: writes asked for in the same turn of the event loop share one IMMEDIATE
   * transaction (a commit costs far more than these statements). Batches are capped so one never
   * holds the loop for long. Rule for every write function: refuse (throw a TasklaneError) before
   * changing anything, since its batch commits around it.
   */
  #write<T>(fn: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError('TL_ERR_STORE_UNAVAILABLE', 'the sqlite job store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#writes.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#commitScheduled) {
        this.#commitScheduled = true;
        setImmediate(() => this.#commit());
      }
    });
  }

  /** Puts writes that did not fit in a batch back in front, for the next turn. */
  #requeue(rest: PendingWrite[]): void {
    if (rest.length === 0) return;
    this.#writes = rest.concat(this.#writes);
    if (!this.#commitScheduled) {
      this.#commitScheduled = true;
      setImmediate(() => this.#commit());
    }
  }

  #commit(): void {
    this.#commitScheduled = false;
    const batch = this.#writes;
    this.#writes = [];
    if (this.#closed) {
      for (const w of batch) w.reject(new StoreError('TL_ERR_STORE_UNAVAILABLE', 'the sqlite job store is closed'));
      return;
    }
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    let tried = 0;
    try {
      this.#transaction.immediate(() => {
        const until = performance.now() + WRITE_BUDGET_MS;
        for (const w of batch) {
          // Out of time: the rest waits for the next turn, so the loop is never held long.
          if (tried > 0 && (tried >= WRITE_BATCH || performance.now() > until)) break;
          tried++;
          try {
            outcomes.push({ ok: true, value: w.fn() });
          } catch (error) {
            // Our refusals (lease lost, wrong state) come before any change, so the rest of the
            // batch stands. Anything else (SQLite itself failing) rolls the whole batch back.
            if (!TasklaneError.isInstance(error)) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (err) {
      const e = storeError(err, this.path, 'job store write');
      this.#setFault(e);
      // Nothing tried means the transaction could not even begin (the file is locked or gone):
      // every write fails rather than spin on it.
      for (const w of tried === 0 ? batch : batch.slice(0, tried)) w.reject(e);
      if (tried > 0) this.#requeue(batch.slice(tried));
      return;
    }
    this.#fault = undefined;
    this.#requeue(batch.slice(outcomes.length));
    outcomes.forEach((o, i) => {
      const w = batch[i]!;
      if (o.ok) w.resolve(o.value);
      else w.reject(TasklaneError.isInstance(o.error) ? o.error : storeError(o.error, this.path, 'job store write'));
    });
  }

  /**
   * Notes a write failure. Until a write succeeds, readiness reports it and a one-row write is
   * tried every PROBE_MS, so the store is seen to be back even when nothing else writes.
   */
  #setFault(e: StoreError): void {
    this.#fault = e;
    if (this.#probeTimer) return;
    const probe = () => {
      this.#probeTimer = undefined;
      if (this.#closed || !this.#fault) return;
      try {
        this.#transaction.immediate(() => this.#q.probe.run(Date.now()));
        this.#fault = undefined;
      } catch (err) {
        this.#fault = storeError(err, this.path, 'job store write');
        this.#probeTimer = setTimeout(probe, PROBE_MS).unref();
      }
    };
    this.#probeTimer = setTimeout(probe, PROBE_MS).unref();
  }
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

function notFound(id: string): NotFoundError {
  return jobNotFound(id);
}
