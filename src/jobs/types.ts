/**
 * The public shapes of durable jobs: records, events, options, tasks and `runtime.jobs`. Types only.
 */
import type { ZodType, ZodTypeDef } from 'zod';
import type { WorkContext } from '../lanes/types.js';

/** `dead` = the task failed on its last attempt (retry it by hand with `retry`). */
export type JobState = 'queued' | 'delayed' | 'running' | 'succeeded' | 'dead' | 'cancelled';

/** States a job never leaves on its own. */
export const FINAL_STATES: ReadonlySet<JobState> = new Set<JobState>(['succeeded', 'dead', 'cancelled']);

export interface JobRecord {
  id: string;
  task: string;
  state: JobState;
  input: unknown;
  result?: unknown;
  error?: { code: string; message: string };
  /** Attempts started so far (1 while the first attempt runs). */
  attempt: number;
  maxAttempts: number;
  /** Higher runs first; FIFO within a priority. */
  priority: number;
  idempotencyKey?: string;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
  /** When the job may next start (epoch ms); in the future while `delayed` or backing off. */
  runAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** The latest progress data reported. */
  progress?: unknown;
  /** Seq of the last event stored for this job. */
  lastSeq: number;
  /** The worker holding (or that last held) the lease. */
  workerId?: string;
  /** The client key (and tenant) that made the job; absent for jobs made without a key (in code, or with auth off). */
  owner?: JobOwner;
}

/** Who made a job: the client key's name and, when it has one, its tenant. Never changes. */
export interface JobOwner {
  key: string;
  tenant?: string;
}

export type JobEventType =
  | 'enqueued'
  | 'started'
  | 'progress'
  | 'progress.coalesced'
  | 'log'
  | 'retrying'
  | 'succeeded'
  | 'dead'
  | 'cancelled'
  | 'cancel-requested';

/** Event types that end a job's stream. */
export const TERMINAL_EVENTS: ReadonlySet<JobEventType> = new Set<JobEventType>(['succeeded', 'dead', 'cancelled']);

/**
 * One event of a job's stream. `seq` starts at 1 and grows by one per event, with no hole.
 * Data by type: enqueued `{ retry?, from? }`, started `{ attempt, workerId }`, progress (the task's
 * data), log `{ msg, data? }`, retrying `{ error, runAt, released? }`, succeeded `{ result }`,
 * dead `{ error }`, cancelled `{ error? }`, cancel-requested `{}`, progress.coalesced `{ count }`
 * (that many progress values were replaced by the next progress event; see LiveJobOptions.maxUnstored).
 */
export interface JobEvent {
  jobId: string;
  seq: number;
  type: JobEventType;
  data: unknown;
  /** Epoch ms. */
  at: number;
  /** The attempt the event belongs to (0 before the first). */
  attempt?: number;
}

export interface EnqueueOptions {
  /** Higher runs first. Default 0. */
  priority?: number;
  /** Earliest start, in ms from now. Default 0. */
  delayMs?: number;
  /** Enqueueing twice with the same key returns the first job instead of making a second. */
  idempotencyKey?: string;
  /** Attempts before the job is dead. Default: the task's maxAttempts, else `jobs.maxAttempts`. */
  maxAttempts?: number;
  /** Recorded on the job (the server sets it from the client key). */
  owner?: JobOwner;
}

export interface ListQuery {
  state?: JobState;
  task?: string;
  /** Page size; default 50, max 500. */
  limit?: number;
  /** The `next` of the previous page. */
  cursor?: string;
  /** Only jobs of this owner: `key` and/or `tenant` must match (both when both are set). */
  owner?: { key?: string; tenant?: string };
}

/** Delay before attempt n+1 after attempt n failed: `min(maxMs, baseMs * factor^(n-1))`, ±jitter. */
export interface BackoffOptions {
  /** 'exponential' (default) or 'fixed' (always baseMs). */
  type?: 'exponential' | 'fixed';
  /** First delay, in ms. Default 1000. */
  baseMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Largest delay, in ms. Default 60000. */
  maxMs?: number;
  /** Spread each delay by up to this fraction either way (0..1). Default 0. */
  jitter?: number;
}

/** What a task's run() receives: the lane's context plus the job's id and attempt. */
export interface TaskContext extends WorkContext {
  jobId: string;
  /** 1 on the first attempt. */
  attempt: number;
}

export interface TaskDef<I = any, O = unknown> {
  /** Unique name, e.g. `reports.compile`. */
  name: string;
  /** The lane it runs in; a thread lane runs it in a worker thread (the module must be importable there). */
  lane: string;
  /** Validates input at enqueue (ValidationError on mismatch). Default: anything. */
  input?: ZodType<I, ZodTypeDef, unknown>;
  /** Attempts before the job is dead. Default `jobs.maxAttempts`. */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** Longest attempt, in ms (overrides the lane's timeoutMs). */
  timeoutMs?: number;
  /** `coalesceMs` > 0: progress events closer than this collapse to the latest (status events never do). */
  progress?: { coalesceMs?: number };
  run(input: I, ctx: TaskContext): O | Promise<O>;
  /** The file: URL of the module that exports this task (set by `defineTask(def, import.meta.url)`). */
  module?: string;
  /** The export holding the task, when known (found in `module` otherwise). */
  exportName?: string;
}

/** Jobs per state, in all and per task (read from counters or index sizes, never by counting rows). */
export interface JobCounts {
  states: Record<JobState, number>;
  tasks: Record<string, Partial<Record<JobState, number>>>;
}

/** The job API of a runtime (`runtime.jobs`). */
export interface JobSystem {
  /** Validates input with the task's schema (ValidationError), then stores the job. Unknown task → TL_ERR_JOB_UNKNOWN_TASK. */
  enqueue(task: string, input: unknown, opts?: EnqueueOptions): Promise<JobRecord>;
  get(id: string): Promise<JobRecord | undefined>;
  /** Newest first. */
  list(q?: ListQuery): Promise<{ jobs: JobRecord[]; next?: string }>;
  /** Jobs per state and per task from counters (no rows read); undefined when the engine keeps none for the filter. */
  counts?(owner?: ListQuery['owner']): Promise<JobCounts | undefined>;
  /** Queued or delayed: cancelled at once. Running: its signal aborts (from any process sharing the store). Final: TL_ERR_JOB_STATE. */
  cancel(id: string): Promise<JobRecord>;
  /** A dead or cancelled job goes back to the queue with its attempts reset; other states: TL_ERR_JOB_STATE. */
  retry(id: string): Promise<JobRecord>;
  /**
   * Events with seq > fromSeq (default 0 = all): the stored ones, then live ones, with no hole and
   * no duplicate; ends after the terminal event (or when the signal aborts). Unknown job → TL_ERR_JOB_NOT_FOUND.
   */
  subscribe(id: string, fromSeq?: number, opts?: { signal?: AbortSignal }): AsyncIterable<JobEvent>;
  tasks(): Array<{ name: string; lane: string }>;
  register(task: TaskDef): void;
  /** Imports a module file and registers every task it exports. */
  registerModule(path: string): Promise<string[]>;
  /** True when the store answers; otherwise what is wrong (for /readyz). */
  ready(): true | string;
}
