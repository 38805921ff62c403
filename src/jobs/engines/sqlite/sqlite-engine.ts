// Over 350 lines: every JobEngine method is here as one short transaction, most handing off to claims, transitions, queries, journal, limits or schedule-store.ts.
/**
 * The embedded job engine: one SQLite file (better-sqlite3, WAL), safe to share between
 * processes. Every change is one small IMMEDIATE transaction (take the write lock first, so two
 * processes never both read "free" and then both write), and every claim or finish is an
 * UPDATE … RETURNING fenced by the attempt's token.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { type StoreError, TasklaneError, ValidationError } from '../../../errors.js';
import type {
  Claim,
  ClaimAsk,
  ClaimOptions,
  EngineEnqueueItem,
  EngineEnqueueOptions,
  FinishOutcome,
  JobCounts,
  JobEngine,
  PendingEvent,
  PruneCut,
} from '../../engine.js';
import type { ChildRecord, JournalEntry } from '../../engine.js';
import type { JobEvent, JobRecord, JobState, ListQuery, WaitFor } from '../../types.js';
import {
  CANCELLED,
  JOB_STATES,
  cannotCancel,
  cannotRetry,
  decodeCursor,
  encodeCursor,
  listLimit,
  notFound,
  ownerFilter,
  pruneCount,
  seqGap,
  storeClosed,
} from '../common.js';
import { claimPass, dueTasks, recoverBatch, statusEvent } from './claims.js';
import { json, prepare, rowToEvent, rowToRecord, type JobRow, type Queries } from './queries.js';
import { storeError } from './faults.js';
import { Checkpointer } from './checkpointer.js';
import { openSchema } from './schema.js';
import { finishAttempt, insertJob, lostOrMissing, releaseAttempt } from './transitions.js';
import { WriteQueue } from './write-queue.js';
import { SqliteWorkflows } from './journal.js';
import { SqliteLimits } from './limits.js';
import { SqliteScheduleStore } from './schedule-store.js';

export interface SqliteEngineOptions {
  /** Database file (its folder is created). */
  path: string;
  /** How long a statement waits for another process's write lock, in ms. Default 5000. */
  busyTimeoutMs?: number;
}

const RECOVER_BATCH = 100;

export class SqliteJobEngine implements JobEngine {
  readonly kind = 'sqlite';
  readonly path: string;
  /** The file's format version (`PRAGMA user_version`) when opened, and after its migrations. */
  readonly format: { found: number; now: number };
  readonly #db: Database.Database;
  readonly #q: Queries;
  readonly #writes: WriteQueue;
  readonly #checkpoints: Checkpointer;
  #closed = false;
  /** Journal, park/wake, signals, children (journal.ts). */
  readonly #wf: SqliteWorkflows;
  /** Schedule state and per-task limit groups (schedules/, limits/), on this store's handle. */
  readonly schedules: SqliteScheduleStore;
  readonly limits: SqliteLimits;

  constructor(options: SqliteEngineOptions) {
    this.path = options.path;
    try {
      mkdirSync(dirname(options.path), { recursive: true });
      this.#db = new Database(options.path);
      this.format = openSchema(this.#db, options.busyTimeoutMs ?? 5_000);
      this.#q = prepare(this.#db);
      const q = this.#q;
      this.#writes = new WriteQueue(this.#db, options.path, () => q.probe.run(Date.now()));
      this.#checkpoints = new Checkpointer(this.#db, options.path);
      this.#wf = new SqliteWorkflows(this.#db, {
        write: (fn) => this.#write(fn),
        run: (fn) => this.#run(fn),
        lostOrMissing: (id) => this.#lostOrMissing(id),
      });
      const read = async <T>(fn: () => T) => this.#run(fn);
      const write = <T>(fn: () => T) => this.#write(fn);
      this.schedules = new SqliteScheduleStore(this.#db, read, write);
      this.limits = new SqliteLimits(this.#db, read, write);
    } catch (err) {
      // A refusal of our own (a file from a newer tasklane) already says what to do.
      if (TasklaneError.isInstance(err)) throw err;
      throw storeError(err, options.path, 'cannot open the job store');
    }
  }

  async start(): Promise<void> {}

  ready(): true | string {
    if (this.#closed) return 'sqlite job store closed';
    const fault = this.#writes.fault;
    if (fault) return `sqlite job store: ${fault.message}`;
    try {
      this.#q.ping.get();
      return true;
    } catch (err) {
      return `sqlite job store ${this.path}: ${(err as Error).message}`;
    }
  }

  /** The write failure the store is in, if any (cleared by the next write that succeeds). */
  get fault(): StoreError | undefined {
    return this.#writes.fault;
  }

  async enqueue(task: string, input: unknown, opts: EngineEnqueueOptions): Promise<JobRecord> {
    return this.#write(() => insertJob(this.#q, task, input, opts, Date.now(), this.#wf, this.limits));
  }

  /** One write: every job or none (the group commit's transaction rolls back on a store failure). */
  async enqueueMany(items: readonly EngineEnqueueItem[]): Promise<JobRecord[]> {
    // A savepoint of its own, so a refusal part-way leaves none of the batch behind either.
    const all = this.#db.transaction(() => {
      const now = Date.now();
      return items.map((it) => insertJob(this.#q, it.task, it.input, it.opts, now, this.#wf, this.limits));
    });
    return this.#write(() => all());
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
    const n = pruneCount(cut, limit);
    if (n === 0) return 0;
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
    const limit = listLimit(q);
    const cursor = decodeCursor(q.cursor);
    if (q.state !== undefined && (!Object.hasOwn(this.#q.list.state, q.state) || (q.state as string) === 'held')) {
      const known = Object.keys(this.#q.list.state).filter((k) => k !== 'held');
      throw new ValidationError(`state must be one of ${known.join(', ')}, got ${String(q.state)}`);
    }
    const before = cursor ?? Number.MAX_SAFE_INTEGER;
    const owner = ownerFilter(q.owner);
    return this.#run(() => {
      const rows = this.#listRows(q, owner, before, limit);
      // Jobs held by a limit are queued to callers: that page merges both, newest first.
      if (q.state === 'queued') {
        rows.push(...this.#listRows({ ...q, state: 'held' as JobState }, owner, before, limit));
        rows.sort((a, b) => b.n - a.n).splice(limit + 1);
      }
      const page = rows.slice(0, limit);
      const jobs = page.map(rowToRecord);
      return rows.length > limit ? { jobs, next: encodeCursor(page[page.length - 1]!.n) } : { jobs };
    });
  }

  #listRows(q: ListQuery, owner: ReturnType<typeof ownerFilter>, before: number, limit: number): JobRow[] {
    const L = this.#q.list;
    return owner
      ? L.owned(owner, q.task, q.state).all(before, limit + 1)
      : q.task && q.state
        ? L.both[q.state].all(q.task, before, limit + 1)
        : q.task
          ? L.task.all(q.task, before, limit + 1)
          : q.state
            ? L.state[q.state].all(before, limit + 1)
            : L.all.all(before, limit + 1);
  }

  async claim(workerId: string, opts: ClaimOptions): Promise<Claim | undefined> {
    const [claims] = await this.claimBatch(workerId, [{ tasks: opts.tasks, n: 1 }], opts.leaseMs);
    return claims?.[0];
  }

  /** One pass for every ask: a read first (see claims.ts), then one write when some task has due work. */
  async claimBatch(workerId: string, asks: readonly ClaimAsk[], leaseMs: number): Promise<Claim[][]> {
    const empty = asks.map(() => [] as Claim[]);
    const wanted = asks.filter((a) => a.n > 0 && a.tasks.length > 0);
    if (wanted.length === 0) return empty;
    const due = this.#run(() => dueTasks(this.#q, wanted, Date.now()));
    if (due.size === 0) return empty;
    return this.#write(() => claimPass(this.#q, due, asks, workerId, leaseMs));
  }

  async counts(tasks: readonly string[] = [], owner?: ListQuery['owner']): Promise<JobCounts> {
    return this.#run(() => {
      const states = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
      const byTask: JobCounts['tasks'] = {};
      for (const t of tasks) byTask[t] = {};
      for (const { task, state, n } of this.#q.counts.all({ key: owner?.key ?? null, tenant: owner?.tenant ?? null })) {
        // Held jobs (limits.ts) count as queued.
        const st: JobState = (state as string) === 'held' ? 'queued' : state;
        states[st] = (states[st] ?? 0) + n;
        const t = (byTask[task] ??= {});
        t[st] = (t[st] ?? 0) + n;
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
    return this.#write(() => finishAttempt(this.#q, id, token, end, Date.now(), this.#wf));
  }

  async release(id: string, token: string): Promise<JobRecord | undefined> {
    return this.#write(() => releaseAttempt(this.#q, id, token, Date.now(), this.#wf));
  }

  async recoverExpired(): Promise<number> {
    let moved = 0;
    for (;;) {
      const batch = await this.#write(() => recoverBatch(this.#q, RECOVER_BATCH, this.#wf));
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
      throw cannotCancel(id, current.state);
    });
  }

  async retry(id: string): Promise<JobRecord> {
    return this.#write(() => {
      const before = this.#q.byId.get(id);
      if (!before) throw notFound(id);
      const now = Date.now();
      const row = this.#q.retry.get({ id, now });
      if (!row) {
        throw cannotRetry(id, before.state);
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
          throw seqGap(id, first, current.last_seq);
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
    this.#writes.close();
    this.#closed = true;
    await this.#checkpoints.close();
    try {
      this.#db.close();
    } catch (err) {
      throw storeError(err, this.path, 'closing the job store');
    }
  }

  /** Writes a status event at the row's (already incremented) last_seq. */
  #event(row: JobRow, type: Parameters<typeof statusEvent>[2], data: unknown, at: number): void {
    statusEvent(this.#q, row, type, data, at);
  }

  #lostOrMissing(id: string): TasklaneError {
    return lostOrMissing(this.#q, id);
  }

  #run<T>(fn: () => T): T {
    if (this.#closed) throw storeClosed('sqlite');
    try {
      return fn();
    } catch (err) {
      if (err instanceof TasklaneError) throw err;
      throw storeError(err, this.path, 'job store');
    }
  }

  /** A write in the next group commit (see write-queue.ts). */
  #write<T>(fn: () => T): Promise<T> {
    return this.#writes.write(fn);
  }
}
