// Over 350 lines: runtime.jobs is the one front of enqueue, queries, actions, streams, workflows, schedules and limits; split pending (#13).
/**
 * `runtime.jobs`: validates and enqueues jobs, answers queries, cancels and retries, streams
 * events, and runs the worker loop in processes that take work (`jobs.worker`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ClosedError, TasklaneError, ValidationError, toTasklaneError } from '../errors.js';
import { checkSignalName, workflowEngine } from './workflow/support.js';
import { WakeTimer } from './workflow/wake-timer.js';
import { workflowView } from './workflow/view.js';
import type { WorkflowDeps } from './workflow/attempt.js';
import type { Lanes } from '../lanes/lanes.js';
import type { Host } from '../runtime/host.js';
import { throttleReports } from '../runtime/throttle-reports.js';
import type { EngineEnqueueItem, EngineEnqueueOptions, JobCounts, JobEngine } from './engine.js';
import type { EngineFactory } from './engines/index.js';
import { EventHub } from './events/event-hub.js';
import { Retention } from './retention.js';
import { demoCpu, demoProgress, DEMO_LANE } from './demo-tasks.js';
import { jobMetrics, type JobMetrics } from './metrics.js';
import { TaskRegistry } from './task-registry.js';
import {
  FINAL_STATES,
  type EnqueueItem,
  type EnqueueOptions,
  type EventWatch,
  type JobEvent,
  type JobRecord,
  type JobSystem,
  type ListQuery,
  type SpawnOptions,
  type TaskDef,
  type WorkflowView,
} from './types.js';
import { WorkerLoop } from './worker-loop.js';
import { enqueueSpan } from './job-trace.js';
import type { TraceSpan } from '../telemetry/tracing.js';
import type { LimitGate } from './limits/gate.js';
import { SchedulesLimits } from './schedules-limits.js';
import type { ScheduleDef, ScheduleInfo } from './types.js';

export interface JobsOptions {
  /** The lanes jobs run in. */
  lanes: Lanes;
  /** Builds the engine (loadEngine(config) gives the one the config names); the job system owns and closes it. */
  engine: EngineFactory;
  /** Events wait at most this long before they are stored, in ms. Default 20. */
  flushMs?: number;
}

const IDEMPOTENCY_KEY_MAX = 200;

export class Jobs implements JobSystem {
  readonly engine: JobEngine;
  readonly #runtime: Host;
  readonly #registry: TaskRegistry;
  readonly #hub: EventHub;
  readonly #worker?: WorkerLoop;
  /** Deletes ended jobs past jobs.retention (on a timer; runOnce() for a round now). */
  readonly retention: Retention;
  readonly #metrics: JobMetrics;
  readonly #wake?: WakeTimer;
  #closing?: Promise<void>;
  /** enqueue() before start() warns once (the worker loop only runs once the runtime started). */
  #warnedNotStarted = false;
  #started = false;
  /** Schedules and per-task limits (schedules-limits.ts). */
  readonly #sl: SchedulesLimits;

  constructor(runtime: Host, options: JobsOptions) {
    this.#runtime = runtime;
    const cfg = runtime.config.jobs;
    const report = throttleReports((err) => runtime.reportError(err));
    const { lanes } = options;
    this.engine = options.engine(report);
    this.#registry = new TaskRegistry(lanes);
    this.#hub = new EventHub({
      engine: this.engine,
      flushMs: options.flushMs ?? 20,
      flushSize: 256,
      pollMs: Math.min(cfg.pollMs, 100),
      maxBuffer: 5_000,
      onError: report,
    });
    this.#metrics = jobMetrics(runtime, () => this.#worker?.active ?? 0);
    if (cfg.worker) {
      const wake = new WakeTimer(
        this.engine,
        cfg.pollMs,
        () => this.#worker?.wake(),
        (err) => report(toTasklaneError(err)),
      );
      this.#wake = wake;
      const workflows: WorkflowDeps = {
        engine: this.engine,
        lanes,
        maxStepResultBytes: cfg.maxStepResultBytes,
        enqueueChild: (parent, task, input, opts, key) => this.#enqueueChild(parent, task, input, opts, key),
        parkedHere: (record) => wake.parked(record),
        tracing: runtime.tracing,
        stepScope: new AsyncLocalStorage(),
      };
      this.#worker = new WorkerLoop(runtime, lanes, this.engine, this.#hub, this.#registry, {
        leaseMs: cfg.leaseMs,
        pollMs: cfg.pollMs,
        cancelGraceMs: cfg.cancelGraceMs,
        metrics: this.#metrics,
        onError: report,
        workflows,
        onAttemptEnded: (job) => this.#sl.freed(job),
      });
    }
    this.#sl = new SchedulesLimits({
      engine: this.engine,
      registry: this.#registry,
      host: runtime,
      enqueue: (task, input, opts) => this.enqueue(task, input, opts),
      wake: () => this.#worker?.wake(),
      report,
    });
    if (runtime.config.demo) {
      if (!lanes.has(DEMO_LANE.name)) lanes.add({ ...DEMO_LANE });
      this.register(demoProgress);
      this.register(demoCpu);
    }
    this.retention = new Retention(this.engine, cfg.retention, report);
    runtime.onStart('jobs', async () => {
      this.#started = true;
      await this.engine.start();
      for (const m of cfg.modules) await this.#registry.addModule(m, runtime.config.baseDir);
      this.#worker?.start();
      this.#wake?.start();
      this.retention.start();
      await this.#sl.start();
    });
    runtime.onClose('jobs', (info) => this.close({ deadlineMs: info?.remainingMs }));
  }

  /** The worker's id in this process (undefined when `jobs.worker` is false). */
  get workerId(): string | undefined {
    return this.#worker?.workerId;
  }

  async enqueue(task: string, input: unknown, opts: EnqueueOptions = {}): Promise<JobRecord> {
    this.#assertOpen();
    const item = this.#prepare(task, input, opts);
    let job: JobRecord;
    try {
      job = await this.engine.enqueue(item.task, item.input, item.opts);
    } catch (err) {
      item.span?.end(err);
      throw err;
    }
    item.span?.set('tasklane.job.id', job.id);
    item.span?.end();
    await this.#sl.admit([job]);
    this.#enqueued([job]);
    return unscoped(job);
  }

  /**
   * Several jobs at once, all or none: every item is validated first (a refusal names its index,
   * `jobs[i]`, as a ValidationError), then they are stored in one step where the engine can
   * (SQLite: one transaction), in order.
   */
  async enqueueMany(items: ReadonlyArray<EnqueueItem>): Promise<JobRecord[]> {
    this.#assertOpen();
    if (!Array.isArray(items) || items.length === 0 || items.length > ENQUEUE_MANY_MAX)
      throw new ValidationError(`enqueueMany takes an array of 1 to ${ENQUEUE_MANY_MAX} jobs`, { details: { count: items?.length } });
    const ready = items.map((it, index) => {
      try {
        return this.#prepare(it?.task, it?.input, jobOptions(it));
      } catch (err) {
        const e = toTasklaneError(err);
        throw new ValidationError(`jobs[${index}]: ${e.message}`, { cause: e, details: { index, code: e.code, ...e.details } });
      }
    });
    let jobs: JobRecord[];
    try {
      jobs = this.engine.enqueueMany
        ? await this.engine.enqueueMany(ready)
        : await Promise.all(ready.map((r) => this.engine.enqueue(r.task, r.input, r.opts)));
    } catch (err) {
      for (const r of ready) r.span?.end(err);
      throw err;
    }
    ready.forEach((r, i) => {
      r.span?.set('tasklane.job.id', jobs[i]!.id);
      r.span?.end();
    });
    await this.#sl.admit(jobs);
    this.#enqueued(jobs);
    return jobs.map(unscoped);
  }

  /** ctx.spawn: a child owned as its parent, idempotent per parent and spawn call. */
  async #enqueueChild(parent: JobRecord, task: string, input: unknown, opts: SpawnOptions, key: string): Promise<JobRecord> {
    const { failParentOnChildFailure: _, ...rest } = opts;
    const item = this.#prepare(task, input, { ...rest, parentId: parent.id, ...(parent.owner ? { owner: parent.owner } : {}) });
    item.opts.idempotencyKey = key;
    let job: JobRecord;
    try {
      job = await this.engine.enqueue(item.task, item.input, item.opts);
    } catch (err) {
      item.span?.end(err);
      throw err;
    }
    item.span?.set('tasklane.job.id', job.id);
    item.span?.end();
    this.#enqueued([job]);
    return job;
  }

  /** Validates one job against its task (input schema, options) and resolves its attempts. */
  #prepare(task: string, input: unknown, opts: EnqueueOptions): EngineEnqueueItem & { span?: TraceSpan } {
    const def = this.#registry.get(task);
    checkOptions(opts);
    let value = input;
    if (def.input) {
      const parsed = def.input.safeParse(input);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
        const first = issues[0]!;
        throw new ValidationError(`input of task "${task}" is invalid: ${first.path ? `${first.path}: ` : ''}${first.message}`, {
          details: { task, issues },
        });
      }
      value = parsed.data;
    }
    const maxAttempts = opts.maxAttempts ?? def.maxAttempts ?? this.#runtime.config.jobs.maxAttempts;
    const engineOpts: EngineEnqueueOptions = { ...opts, maxAttempts };
    const group = this.#sl.groupOf(def, value);
    if (group !== undefined) engineOpts.group = group;
    // The trace context is kept only with tracing on (off, nothing is stored for it).
    const tracing = this.#runtime.tracing;
    const span = tracing.enabled ? enqueueSpan(tracing, task, opts.traceparent) : undefined;
    if (span) engineOpts.traceparent = span.traceparent;
    else delete engineOpts.traceparent;
    // Idempotency keys are per owner: another key using the same one makes its own job, and never
    // learns that the key was taken.
    if (opts.owner && opts.idempotencyKey !== undefined) engineOpts.idempotencyKey = `${opts.owner.key}${OWNER_SEP}${opts.idempotencyKey}`;
    return span ? { task, input: value, opts: engineOpts, span } : { task, input: value, opts: engineOpts };
  }

  #enqueued(jobs: readonly JobRecord[]): void {
    for (const job of jobs) this.#metrics.enqueued(job.task);
    this.#worker?.wake();
    const job = jobs[0];
    if (job && this.#worker && !this.#started && !this.#warnedNotStarted) {
      this.#warnedNotStarted = true;
      this.#runtime.log.warn(
        { task: job.task, jobId: job.id },
        `job ${job.id} (${job.task}) is queued, but this runtime was never started, so no job runs here until runtime.start() is called (listen() calls it); set jobs.worker: false in a process that only enqueues`,
      );
    }
  }

  async get(id: string): Promise<JobRecord | undefined> {
    this.#assertOpen();
    const job = await this.engine.get(id);
    return job && unscoped(job);
  }

  list(q: ListQuery = {}): Promise<{ jobs: JobRecord[]; next?: string }> {
    this.#assertOpen();
    if (q.limit !== undefined && (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > 500)) {
      return Promise.reject(new ValidationError(`limit must be an integer from 1 to 500, got ${String(q.limit)}`));
    }
    return this.engine.list(q).then((page) => ({ ...page, jobs: page.jobs.map(unscoped) }));
  }

  /**
   * Jobs per state (and per registered task) from the engine's counters, without reading job
   * rows; undefined when the engine keeps none for this filter (the caller lists instead).
   */
  async counts(owner?: ListQuery['owner']): Promise<JobCounts | undefined> {
    this.#assertOpen();
    return this.engine.counts?.(
      this.#registry.list().map((t) => t.name),
      owner,
    );
  }

  async cancel(id: string): Promise<JobRecord> {
    this.#assertOpen();
    const record = await this.engine.cancel(id);
    // Running here: abort now rather than at the next renewal. Running elsewhere: that process's renewer sees the flag.
    if (record.state === 'running') this.#worker?.cancelLocal(id);
    else this.#hub.poke(id);
    await this.#cancelChildren(id);
    this.#sl.freed(record);
    return unscoped(record);
  }

  async retry(id: string): Promise<JobRecord> {
    this.#assertOpen();
    const record = await this.engine.retry(id);
    this.#sl.freed(record);
    this.#hub.poke(id);
    this.#worker?.wake();
    return unscoped(record);
  }

  /** A job's children and steps (empty when it has none, or the engine keeps no workflows). */
  async workflow(id: string): Promise<WorkflowView> {
    this.#assertOpen();
    return workflowView(this.engine, id);
  }

  /** Cancels the children of a cancelled job that have not ended (and theirs). */
  async #cancelChildren(id: string): Promise<void> {
    if (!this.engine.children) return;
    for (const child of await this.engine.children(id)) {
      if (FINAL_STATES.has(child.state)) continue;
      try {
        await this.cancel(child.id);
      } catch (err) {
        // Ended in between: nothing left to cancel.
        if (!(TasklaneError.isInstance(err) && err.code === 'TL_ERR_JOB_STATE')) throw err;
      }
    }
  }

  async signal(id: string, name: string, payload?: unknown): Promise<JobRecord> {
    this.#assertOpen();
    checkSignalName(name);
    const record = await workflowEngine(this.engine, 'signal').signal(id, name, payload ?? null);
    if (record.state === 'queued') {
      this.#hub.poke(id);
      this.#worker?.wake();
    }
    return unscoped(record);
  }

  subscribe(id: string, fromSeq = 0, opts: { signal?: AbortSignal } = {}): AsyncIterable<JobEvent> {
    this.#assertOpen();
    return this.#hub.subscribe(id, fromSeq, opts);
  }

  watch(id: string, fromSeq: number, onReady: () => void): EventWatch {
    this.#assertOpen();
    return this.#hub.watch(id, fromSeq, onReady);
  }

  tasks(): Array<{ name: string; lane: string }> {
    return this.#registry.list().map((t) => ({ name: t.name, lane: t.lane }));
  }

  register(task: TaskDef): void {
    this.#assertOpen();
    this.#registry.add(task);
    this.#worker?.wake();
  }

  async registerModule(path: string): Promise<string[]> {
    this.#assertOpen();
    const names = await this.#registry.addModule(path, this.#runtime.config.baseDir);
    this.#worker?.wake();
    return names;
  }

  ready(): true | string {
    return this.#closing ? 'job system closing' : this.engine.ready();
  }

  /** Adds a schedule; once started, its task must be registered (TL_ERR_CONFIG_INVALID otherwise). */
  schedule(def: ScheduleDef): Promise<ScheduleInfo> {
    this.#assertOpen();
    return this.#sl.scheduler.add(def);
  }

  schedules(): Promise<ScheduleInfo[]> {
    this.#assertOpen();
    return this.#sl.scheduler.list();
  }

  /** The per-task limit gate (tests read its pump count). */
  get limitGate(): LimitGate | undefined {
    return this.#sl.gate;
  }

  /** Stops the worker (running jobs finish or are given back), ends streams, closes the store. Idempotent. */
  close(options: { deadlineMs?: number } = {}): Promise<void> {
    this.#closing ??= (async () => {
      const deadline = options.deadlineMs ?? this.#runtime.config.closeDeadlineMs;
      // Leave a share of the deadline for giving leases back and closing the store.
      // Past the deadline the engine drops what it still holds (a store that went away would
      // otherwise keep its connections, and the process, alive); the timer itself never does.
      const destroy = setTimeout(() => this.engine.destroy?.(), deadline);
      destroy.unref();
      try {
        await this.#sl.scheduler.stop();
        await this.retention.stop();
        this.#wake?.stop();
        await this.#worker?.close(Math.max(0, deadline - Math.min(1_000, deadline * 0.3)));
        await this.#sl.gate?.stop();
        this.#hub.close();
        await this.engine.close();
      } finally {
        clearTimeout(destroy);
      }
    })();
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closing) throw new ClosedError('job system');
    this.#runtime.assertOpen('job system');
  }
}

/** Between an owner's key name and its idempotency key in the stored key (names never hold it). */
const OWNER_SEP = '\u001f';

/** The record with the idempotency key as its owner gave it. */
function unscoped(job: JobRecord): JobRecord {
  const prefix = job.owner && `${job.owner.key}${OWNER_SEP}`;
  if (!prefix || !job.idempotencyKey?.startsWith(prefix)) return job;
  return { ...job, idempotencyKey: job.idempotencyKey.slice(prefix.length) };
}

/** Most jobs one enqueueMany (or one POST /v1/jobs array) takes. */
const ENQUEUE_MANY_MAX = 1_000;

/** The options part of an enqueueMany item. */
function jobOptions(item: EnqueueItem | undefined): EnqueueOptions {
  if (!item || typeof item !== 'object') return {};
  const { task: _task, input: _input, ...opts } = item;
  return opts;
}

function checkOptions(opts: EnqueueOptions): void {
  const bad = (what: string) => {
    throw new ValidationError(what, { details: { options: opts } });
  };
  if (opts.priority !== undefined && (typeof opts.priority !== 'number' || !Number.isFinite(opts.priority)))
    bad(`priority must be a finite number, got ${String(opts.priority)}`);
  if (opts.delayMs !== undefined && (typeof opts.delayMs !== 'number' || !(opts.delayMs >= 0)))
    bad(`delayMs must be a number ≥ 0, got ${String(opts.delayMs)}`);
  if (opts.maxAttempts !== undefined && (!Number.isInteger(opts.maxAttempts) || opts.maxAttempts < 1))
    bad(`maxAttempts must be an integer ≥ 1, got ${String(opts.maxAttempts)}`);
  if (
    opts.owner !== undefined &&
    (typeof opts.owner?.key !== 'string' ||
      !/^[^\u0000-\u001f]{1,100}$/.test(opts.owner.key) ||
      (opts.owner.tenant !== undefined && typeof opts.owner.tenant !== 'string'))
  ) {
    bad('owner must be { key: string (1 to 100 printable characters), tenant?: string }');
  }
  if (
    opts.idempotencyKey !== undefined &&
    (typeof opts.idempotencyKey !== 'string' || opts.idempotencyKey.length === 0 || opts.idempotencyKey.length > IDEMPOTENCY_KEY_MAX)
  ) {
    bad(`idempotencyKey must be a string of 1 to ${IDEMPOTENCY_KEY_MAX} characters`);
  }
}
