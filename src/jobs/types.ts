// Over 350 lines: the public job types (records, events, options, tasks, workflows, runtime.jobs) are read as one contract.
/**
 * The public shapes of durable jobs: records, events, options, tasks and `runtime.jobs`. Types only.
 */
import type { ZodType, ZodTypeDef } from 'zod';
import type { WorkContext } from '../lanes/types.js';
import type { ScheduleDef, ScheduleInfo } from './schedules/types.js';

export type { ScheduleDef, ScheduleInfo };

/**
 * `dead` = the task failed on its last attempt (retry it by hand with `retry`). `waiting` = parked
 * by a workflow (`ctx.sleep`, `ctx.waitForSignal`, `ctx.join`): out of its lane slot, no lease,
 * `waitingFor` says until what.
 */
export type JobState = 'queued' | 'delayed' | 'running' | 'waiting' | 'succeeded' | 'dead' | 'cancelled';

/** Every state, in the order lists and counts show them. */
export const JOB_STATES: readonly JobState[] = ['queued', 'delayed', 'running', 'waiting', 'succeeded', 'dead', 'cancelled'];

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
  /** The job that spawned this one (`ctx.spawn`). */
  parentId?: string;
  /** What the job's AI calls cost in USD (unrounded), whole and per step; on GET /v1/jobs/:id when accounting is on. */
  cost?: { usd: number; steps?: Record<string, number> };
  /** While `waiting`: what wakes the job. */
  waitingFor?: WaitFor;
  /** W3C traceparent of the span that made the job (recorded with tracing on); its attempts' spans go under it. */
  traceparent?: string;
  /** The limit group (the task's rateLimit/concurrency key of the input, '' without a key); only on tasks with limits. */
  group?: string;
}

/**
 * What a parked job waits for: a time (`ctx.sleep`), a signal by name (`ctx.waitForSignal`; woken
 * at `timeoutAt` too, epoch ms), or the end of every listed child (`ctx.join`).
 */
export type WaitFor =
  | { kind: 'sleep'; until: number }
  | { kind: 'signal'; name: string; timeoutAt?: number }
  | { kind: 'children'; ids: string[] };

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
  | 'cancel-requested'
  | 'waiting'
  | 'woken'
  | 'step.started'
  | 'step.completed'
  | 'step.failed'
  | 'step.replayed'
  | 'child.started'
  | 'child.ended';

/** Event types that end a job's stream. */
export const TERMINAL_EVENTS: ReadonlySet<JobEventType> = new Set<JobEventType>(['succeeded', 'dead', 'cancelled']);

/**
 * One event of a job's stream. `seq` starts at 1 and grows by one per event, with no hole.
 * Data by type: enqueued `{ retry?, from? }`, started `{ attempt, workerId }`, progress (the task's
 * data), log `{ msg, data? }`, retrying `{ error, runAt, released? }`, succeeded `{ result }`,
 * dead `{ error }`, cancelled `{ error? }`, cancel-requested `{}`, progress.coalesced `{ count }`
 * (that many progress values were replaced by the next progress event; see LiveJobOptions.maxUnstored).
 * Workflows (docs/workflows.md): waiting `{ waitingFor }`, woken `{ by: 'time' | 'signal' |
 * 'children', name? }`, step.started `{ name, occurrence }`, step.completed `{ name, occurrence,
 * durationMs }`, step.failed `{ name, occurrence, error }`, step.replayed `{ name, occurrence }`,
 * child.started `{ id, task }`, child.ended `{ id, task, state, error? }`.
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
  /** The parent job (set by `ctx.spawn`). */
  parentId?: string;
  /** The span the job is made under (the server sets it from the request); kept only with tracing on. */
  traceparent?: string;
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

/** What a task's run() receives: the lane's context, the job's id and attempt, and the workflow calls. */
export interface TaskContext extends WorkContext, WorkflowContext {
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
  /** At most `limit` job starts per `periodMs`, fleet-wide, per group (`key` of the input; one group without it). */
  rateLimit?: { limit: number; periodMs: number; key?: (input: I) => string };
  /** At most `limit` jobs unfinished at once past the gate, fleet-wide, per group (`key` of the input; one group without it). */
  concurrency?: { limit: number; key?: (input: I) => string };
  run(input: I, ctx: TaskContext): O | Promise<O>;
  /** The file: URL of the module that exports this task (set by `defineTask(def, import.meta.url)`). */
  module?: string;
  /** The export holding the task, when known (found in `module` otherwise). */
  exportName?: string;
}

/** One job of an enqueueMany: its task, input and options. */
export interface EnqueueItem extends EnqueueOptions {
  task: string;
  input?: unknown;
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
  /** Several jobs, all or none: each validated first (a refusal names its index, `jobs[i]`), then stored in order. */
  enqueueMany(items: ReadonlyArray<EnqueueItem>): Promise<JobRecord[]>;
  get(id: string): Promise<JobRecord | undefined>;
  /** Newest first. */
  list(q?: ListQuery): Promise<{ jobs: JobRecord[]; next?: string }>;
  /** Jobs per state and per task from counters (no rows read); undefined when the engine keeps none for the filter. */
  counts?(owner?: ListQuery['owner']): Promise<JobCounts | undefined>;
  /** Queued, delayed or waiting: cancelled at once. Running: its signal aborts (from any process sharing the store). Final: TL_ERR_JOB_STATE. Its children that have not ended are cancelled too. */
  cancel(id: string): Promise<JobRecord>;
  /** A dead or cancelled job goes back to the queue with its attempts reset; other states: TL_ERR_JOB_STATE. */
  retry(id: string): Promise<JobRecord>;
  /**
   * Events with seq > fromSeq (default 0 = all): the stored ones, then live ones, with no hole and
   * no duplicate; ends after the terminal event (or when the signal aborts). Unknown job → TL_ERR_JOB_NOT_FOUND.
   */
  subscribe(id: string, fromSeq?: number, opts?: { signal?: AbortSignal }): AsyncIterable<JobEvent>;
  /** @internal Push-mode subscribe for the WebSocket fan-out (see EventWatch). */
  watch?(id: string, fromSeq: number, onReady: () => void): EventWatch;
  tasks(): Array<{ name: string; lane: string }>;
  register(task: TaskDef): void;
  /** Imports a module file and registers every task it exports. */
  registerModule(path: string): Promise<string[]>;
  /** True when the store answers; otherwise what is wrong (for /readyz). */
  ready(): true | string;
  /** Adds a schedule (as the `schedules` config entries): a job of `task` per cron tick, once across the fleet. */
  schedule(def: ScheduleDef): Promise<ScheduleInfo>;
  /** Every schedule of this runtime with its next tick and the latest run. */
  schedules(): Promise<ScheduleInfo[]>;
  /**
   * Sends a signal to a job (`ctx.waitForSignal(name)`): kept until the job waits for it, each used
   * once; wakes the job if it waits for this name. Final job → TL_ERR_JOB_STATE (409).
   */
  signal(id: string, name: string, payload?: unknown): Promise<JobRecord>;
}

// ---- Workflows (docs/workflows.md): the workflow side of a task's context, and what GET /v1/jobs/:id shows of it.

/** What a step's function receives. */
export interface StepContext {
  /** Aborts on the step's timeout and with the job (cancel, lease lost, close). */
  signal: AbortSignal;
  /** 1 on the step's first try (see StepOptions.retries). */
  try: number;
}

export interface StepOptions {
  /** Extra tries after a failure before the step fails for good. Default 0. */
  retries?: number;
  /** Delay between tries (the job's backoff shape). Default: 1 s doubling, at most 60 s. */
  backoff?: BackoffOptions;
  /** Longest try, in ms (TL_ERR_JOB_STEP_TIMEOUT). Default: none beyond the job's own timeout. */
  timeoutMs?: number;
  /**
   * Run the step in another lane (a thread lane included). The step's work is then a task
   * definition (a module-level `defineTask(..., import.meta.url)`), not a closure, and `input` is
   * what its run() receives.
   */
  lane?: string;
  /** With `lane`: the task's input (structured-clonable for thread lanes). */
  input?: unknown;
}

export interface SpawnOptions extends Omit<EnqueueOptions, 'idempotencyKey' | 'owner'> {
  /** A child that ends dead or cancelled makes `ctx.join` throw TL_ERR_JOB_CHILD_FAILED. Default true. */
  failParentOnChildFailure?: boolean;
}

/** A child as `ctx.spawn` returns it, to pass to `ctx.join`. */
export interface ChildHandle {
  id: string;
  task: string;
}

/** One child's end, as `ctx.join` returns it (in spawn order). */
export interface ChildOutcome {
  id: string;
  state: JobState;
  result?: unknown;
  error?: { code: string; message: string };
}

/**
 * Durable workflow calls. Each is journaled with the job under a key made of its kind, name and
 * occurrence, so a later attempt replays it instead of running it again; the calls must come in
 * the same order on every attempt (TL_ERR_JOB_STEP_MISMATCH otherwise). Available to tasks on
 * loop lanes; a step may run its work in a thread lane (`StepOptions.lane`).
 */
export interface WorkflowContext {
  /** Runs `fn` once per job; its JSON result (or final error) is stored before the step counts as done. */
  step<T>(name: string, fn: (step: StepContext) => T | Promise<T>, options?: StepOptions): Promise<T>;
  /** With `options.lane`: runs the task definition `task` in that lane with `options.input`. */
  step<T>(name: string, task: TaskDef<any, T>, options: StepOptions & { lane: string }): Promise<T>;
  /** Parks the job for `ms` (state `waiting`, out of its lane slot; survives restarts). */
  sleep(ms: number): Promise<void>;
  /** Parks the job until `date`. */
  sleepUntil(date: Date | number): Promise<void>;
  /**
   * Parks the job until a signal of this name arrives (kept if it came earlier; each is used once)
   * and resolves with its payload; TL_ERR_JOB_SIGNAL_TIMEOUT after `timeoutMs`.
   */
  waitForSignal<T = unknown>(name: string, options?: { timeoutMs?: number }): Promise<T>;
  /** Enqueues a child job (once per parent and spawn occurrence). */
  spawn(task: string | TaskDef, input: unknown, options?: SpawnOptions): Promise<ChildHandle>;
  /** Parks the job until every child has ended; their outcomes in spawn order. */
  join(children: ReadonlyArray<ChildHandle | string>): Promise<ChildOutcome[]>;
}

/** A step as `GET /v1/jobs/:id` shows it. */
export interface StepSummary {
  name: string;
  occurrence: number;
  state: 'completed' | 'failed';
  durationMs: number;
  error?: { code: string; message: string };
}

/** A job's workflow facts beyond its record: children (spawn order) and steps (call order). */
export interface WorkflowView {
  children: Array<{ id: string; task: string; state: JobState }>;
  steps: StepSummary[];
}

/**
 * @internal A push-mode subscription: the same events as subscribe(), but `onReady` is called when
 * some are buffered and the reader takes them in its own batch (no async iterator per reader).
 * Ended once the terminal event is buffered, on close(), or on an error (then `error` is set).
 */
export interface EventWatch {
  /** Buffered events in seq order; the buffer is left empty. */
  take(): JobEvent[];
  readonly buffered: number;
  readonly ended: boolean;
  readonly error?: import('../errors.js').TasklaneError;
  close(): void;
}
