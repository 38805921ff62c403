/**
 * The job engine contract: queue and event semantics that every backend (SQLite, Redis) keeps,
 * with no datastore type in sight. The job system (enqueue validation, the worker loop, live
 * event fan-out) sits on top of it; `test/engines/` runs one conformance suite against each engine.
 *
 * Who writes events: while an attempt holds a job's lease, only the holder writes that job's
 * stream, with seqs it assigns itself (continuing from the claimed record's `lastSeq`), so events
 * can be fanned out live before they are stored. Every other event is written by the engine in
 * the same step as the state change that causes it, at `lastSeq + 1`: `enqueued` (enqueue,
 * retry), `started` (claim), `retrying` / `succeeded` / `dead` / `cancelled` (finish, release,
 * recovery, cancel of a job nobody holds). A cancel of a held job only sets a flag: the holder
 * learns it from renew() (or onCancelRequested) and writes `cancel-requested` itself.
 *
 * Errors: stale fencing token → JobError TL_ERR_JOB_LEASE_LOST; unknown id → NotFoundError
 * TL_ERR_JOB_NOT_FOUND; wrong state → JobError TL_ERR_JOB_STATE; store down or closed →
 * StoreError TL_ERR_STORE_UNAVAILABLE.
 */
import type { LimitStore } from './limits/types.js';
import type { ScheduleStore } from './schedules/store.js';
import type { EnqueueOptions, JobCounts, JobEvent, JobRecord, JobState, ListQuery, WaitFor } from './types.js';

export type { JobCounts };

/** A job taken by a worker: its record (state running, attempt counted) and the attempt's fencing token. */
export interface Claim {
  job: JobRecord;
  /** Unique per attempt; every later call for this attempt passes it. */
  token: string;
}

/**
 * How an attempt ended. Event data written with the state change: succeeded `{ result }`,
 * retrying `{ error, runAt }`, dead `{ error }`, cancelled `{ error }` (error may be absent).
 */
export type FinishOutcome =
  | { outcome: 'succeeded'; result: unknown }
  | { outcome: 'retry'; error: { code: string; message: string }; runAt: number }
  | { outcome: 'dead'; error: { code: string; message: string } }
  | { outcome: 'cancelled'; error?: { code: string; message: string } };

export interface ClaimOptions {
  /** Only jobs of these tasks (the tasks whose lanes have a free slot). Empty = none. */
  tasks: readonly string[];
  /** Lease length, in ms. */
  leaseMs: number;
}

/** One lane's share of a claim pass: up to `n` jobs among `tasks`. */
export interface ClaimAsk {
  tasks: readonly string[];
  n: number;
}

/** Enqueue options with the attempts already resolved (task default, then config). */
export interface EngineEnqueueOptions extends EnqueueOptions {
  maxAttempts: number;
  /** The job's limit group (a task with rateLimit/concurrency): stored held back until limits.pump() admits it. */
  group?: string;
}

/** One job of an enqueueMany. */
export interface EngineEnqueueItem {
  task: string;
  input: unknown;
  opts: EngineEnqueueOptions;
}

/** What prune() may delete: ended jobs that finished before these times (epoch ms; 0 = none). */
export interface PruneCut {
  succeededBefore: number;
  failedBefore: number;
}

/** An event as the lease holder hands it to appendEvents (seq assigned by the holder). */
export type PendingEvent = JobEvent;

/**
 * One journaled workflow call of a job (see "Workflows" at the end of JobEngine). `key` is
 * `<kind>:<name>#<occurrence>` with kind step, sleep, signal, spawn or join (name empty for
 * sleep, spawn and join: `sleep:#0`); an AI call inside a step is `ai:<step key>#<call index>`
 * (e.g. `ai:step:extract#0#2`). Engines store entries as given; they never parse keys.
 */
export interface JournalEntry {
  key: string;
  /** Position among the job's top-level workflow calls, in call order (absent for ai entries). */
  pos?: number;
  /** `waiting`: begun and parked (a sleep's `until`, a signal wait's `timeoutAt` are in result). */
  status: 'completed' | 'failed' | 'waiting';
  result?: unknown;
  error?: { code: string; message: string };
  /** Epoch ms. */
  startedAt: number;
  endedAt?: number;
}

/** A child job as the parent's workflow sees it (children() answers them in spawn order). */
export interface ChildRecord {
  id: string;
  task: string;
  state: JobState;
  result?: unknown;
  error?: { code: string; message: string };
}

export interface JobEngine {
  /** Short name for logs and readiness ('sqlite', 'redis'). */
  readonly kind: string;

  /** Optional: schedule state shared by the processes on this store (else each process keeps its own). */
  readonly schedules?: ScheduleStore;

  /** Optional: per-task limit groups (rateLimit, concurrency); an engine without it refuses tasks with limits. */
  readonly limits?: LimitStore;

  /** Opens connections and background steps the engine needs. Idempotent. */
  start(): Promise<void>;

  /** True when the store answers; otherwise a sentence saying what is wrong. Cheap, no I/O wait. */
  ready(): true | string;

  /**
   * Stores a new job (`queued`, or `delayed` when delayMs > 0) with its `enqueued` event (seq 1).
   * With an idempotency key already used, returns that job unchanged instead (whatever its state).
   */
  enqueue(task: string, input: unknown, opts: EngineEnqueueOptions): Promise<JobRecord>;

  /**
   * Optional: several enqueues in one step, all stored or none (a store failure stores nothing),
   * answered in order, each as enqueue() would. Without it the job system calls enqueue() per job.
   */
  enqueueMany?(items: readonly EngineEnqueueItem[]): Promise<JobRecord[]>;

  /** The job's record, or undefined. */
  get(id: string): Promise<JobRecord | undefined>;

  /**
   * Deletes up to `limit` ended jobs with their events and idempotency keys: succeeded ones that
   * finished before `succeededBefore`, dead and cancelled ones before `failedBefore` (epoch ms;
   * 0 = none). Oldest first, as far as the store can tell cheaply. Returns how many went.
   */
  prune(cut: PruneCut, limit: number): Promise<number>;

  /** Newest first, filtered by state and/or task; `next` is an opaque cursor for the following page. */
  list(q?: ListQuery): Promise<{ jobs: JobRecord[]; next?: string }>;

  /**
   * Atomically takes the best due job (queued, or delayed whose runAt has passed; highest priority,
   * then oldest runAt) among `tasks`: state running, attempt + 1, a new token, lease until
   * now + leaseMs, `started` event. Never hands one job to two workers, across processes too.
   * Undefined when none is due.
   */
  claim(workerId: string, opts: ClaimOptions): Promise<Claim | undefined>;

  /**
   * Optional: one claim pass for several lanes at once (the worker loop asks once per tick for all
   * its idle lanes), the same semantics as claim() for each job handed out. Answers one array per
   * ask, in order, each with at most `n` claims. An engine without it gets one claim() per slot.
   */
  claimBatch?(workerId: string, asks: readonly ClaimAsk[], leaseMs: number): Promise<Claim[][]>;

  /**
   * Optional: job counts (for the overview) without reading job rows; per task for `tasks` at
   * least; only the jobs of `owner` when given (as ListQuery's owner filter); undefined when it keeps
   * no counters for that filter.
   */
  counts?(tasks: readonly string[], owner?: ListQuery['owner']): Promise<JobCounts | undefined>;

  /**
   * Extends the lease of the attempt holding `token` to now + leaseMs and reports whether a cancel
   * was requested (by any process). Stale token → TL_ERR_JOB_LEASE_LOST.
   */
  renew(id: string, token: string, leaseMs: number): Promise<{ cancelRequested: boolean }>;

  /**
   * Completes or fails the attempt holding `token` with its state change and event in one step:
   * succeeded, retry (back to delayed/queued at runAt), dead or cancelled. Stale token →
   * TL_ERR_JOB_LEASE_LOST, and nothing changes. Returns the new record (lastSeq = the event's seq).
   */
  finish(id: string, token: string, end: FinishOutcome): Promise<JobRecord>;

  /**
   * Gives a held job back without burning the attempt (graceful shutdown): queued again at once,
   * attempt − 1, `retrying` event with `{ released: true }`. A stale token is a no-op (undefined).
   */
  release(id: string, token: string): Promise<JobRecord | undefined>;

  /**
   * Recovers running jobs whose lease expired (a crashed or stuck worker): back to the queue with
   * the attempt counted (`retrying`), `dead` when it was the last attempt, `cancelled` when a
   * cancel was requested. The old token is refused from then on. Returns how many moved.
   */
  recoverExpired(): Promise<number>;

  /**
   * Queued, delayed or waiting: cancelled at once (`cancelled` event). Running: sets the cancel-request flag
   * (seen by the holder's renew), record returned still running. Final: TL_ERR_JOB_STATE.
   */
  cancel(id: string): Promise<JobRecord>;

  /**
   * Dead or cancelled → queued now, attempt 0, error and result cleared, `enqueued` event
   * `{ retry: true, from }`. Else TL_ERR_JOB_STATE. Workflow engines also drop the job's `failed`
   * journal entries (completed ones stay, to be replayed).
   */
  retry(id: string): Promise<JobRecord>;

  /**
   * Stores a batch of the holder's events (seqs consecutive, after the stored lastSeq) in one step,
   * and keeps the latest progress data on the record. Stale token → TL_ERR_JOB_LEASE_LOST, nothing stored.
   */
  appendEvents(id: string, token: string, events: readonly PendingEvent[]): Promise<void>;

  /** Stored events with seq > fromSeq, in seq order, at most `limit` (default: all). */
  readEvents(id: string, fromSeq: number, limit?: number): Promise<JobEvent[]>;

  /**
   * Optional: the stored lastSeq of each job that exists, in one query (the event hub polls many
   * jobs' streams with it and reads only those that moved).
   */
  lastSeqs?(ids: readonly string[]): Promise<Map<string, number>>;

  /** Optional push of cancel requests for jobs this process holds (else renew() reports them). Returns an unsubscribe. */
  onCancelRequested?(listener: (jobId: string) => void): () => void;

  /**
   * Optional, for engines shared by several processes (Redis): the stored events with seq > fromSeq,
   * then live ones as any process stores them, ending after the terminal event (or when the signal
   * aborts). The job system's subscribe() uses it for jobs this process does not run, since those
   * events never pass through its local fan-out. Unknown job → TL_ERR_JOB_NOT_FOUND.
   */
  follow?(id: string, fromSeq: number, opts?: { signal?: AbortSignal }): Promise<AsyncIterable<JobEvent>>;

  /** Stops background steps and closes the store handle(s). Idempotent. */
  close(): Promise<void>;

  /**
   * Drops every handle at once, without waiting for the store (called when close() ran past its
   * deadline, e.g. with Redis gone): afterwards nothing of the engine keeps the process alive.
   */
  destroy?(): void;

  // ---- Workflows (docs/workflows.md). Optional: the job system refuses a workflow call on an
  // engine without them (TL_ERR_CONFIG naming the engine). test/engines/conformance-workflows.ts
  // is the contract. Writes fenced by a token refuse a stale one with TL_ERR_JOB_LEASE_LOST and
  // store nothing, like appendEvents.

  /** The job's journal: every entry stored (any order; the job system orders by pos). Unknown job → []. */
  readJournal?(id: string): Promise<JournalEntry[]>;

  /** Stores entries (a later one with the same key replaces the earlier), fenced by the attempt's token. */
  writeJournal?(id: string, token: string, entries: readonly JournalEntry[]): Promise<void>;

  /**
   * Parks the attempt holding `token`, fenced, in one step: stores `entries`, drops the lease and
   * token, attempt − 1 (the next claim continues the same attempt, as release does), state
   * `waiting` with `waitingFor`, runAt = when time wakes it (`until`, `timeoutAt`, or never:
   * Number.MAX_SAFE_INTEGER), and writes first the `child.ended` events of children that ended
   * while the parent was held (see enqueue with parentId), then `waiting { waitingFor }`.
   * When the wait is already over (a kept unused signal of that name, every child ended, the time
   * passed) the job goes on to `queued` in the same step, with `woken { by }` after `waiting`.
   * Returns the record (lastSeq = the last event's seq).
   */
  park?(id: string, token: string, waitFor: WaitFor, entries?: readonly JournalEntry[]): Promise<JobRecord>;

  /**
   * Waiting jobs whose runAt has passed → queued now, waitingFor cleared, `woken { by: 'time' }`.
   * Returns how many moved (a bounded batch per call is fine; the job system calls it on a timer).
   */
  wakeDue?(): Promise<number>;

  /**
   * Stores a signal for the job (kept until taken, in arrival order, several per name allowed).
   * A job waiting for this name → queued now, `woken { by: 'signal', name }`. Final job →
   * TL_ERR_JOB_STATE; unknown → TL_ERR_JOB_NOT_FOUND. Returns the record after.
   */
  signal?(id: string, name: string, payload: unknown): Promise<JobRecord>;

  /**
   * Fenced by the token: takes the oldest unused signal of this name (never handed out again) and
   * stores the journal entry `{ ...entry, status: 'completed', result: payload, endedAt: now }` in
   * the same step. Undefined (nothing stored) when none is kept.
   */
  takeSignal?(
    id: string,
    token: string,
    name: string,
    entry: Pick<JournalEntry, 'key' | 'pos' | 'startedAt'>,
  ): Promise<{ payload: unknown } | undefined>;

  /**
   * The jobs enqueued with `parentId` = id, oldest first. A child's end (succeeded, dead,
   * cancelled — by finish, recovery or cancel) is also its parent's business, in the same step:
   * when the parent waits for children and none of its `ids` is left unfinished it is woken
   * (`woken { by: 'children' }`); when the parent is not held by an attempt, `child.ended
   * { id, task, state, error? }` goes into the parent's stream at once, else at its next park.
   * Enqueue with `parentId` + idempotencyKey returns the existing child as usual.
   */
  children?(id: string): Promise<ChildRecord[]>;
}
