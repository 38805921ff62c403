/**
 * `runtime.jobs`: enqueues jobs (checked in enqueue-prep.ts), answers queries, cancels and
 * retries, streams events, and runs the worker loop in processes that take work (jobs-worker.ts).
 */
import { ClosedError, TasklaneError, ValidationError, toTasklaneError } from '../errors.js';
import { checkSignalName, workflowEngine } from './workflow/support.js';
import { workflowView } from './workflow/view.js';
import type { Lanes } from '../lanes/lanes.js';
import type { Host } from '../runtime/host.js';
import { throttleReports } from '../runtime/throttle-reports.js';
import type { JobCounts, JobEngine } from './engine.js';
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
import { ENQUEUE_MANY_MAX, jobOptions, prepareJob, type PreparedJob, storeOne, unscoped } from './enqueue-prep.js';
import { buildWorker, closeParts, type WorkerParts } from './jobs-worker.js';
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

export class Jobs implements JobSystem {
  readonly engine: JobEngine;
  readonly #runtime: Host;
  readonly #registry: TaskRegistry;
  readonly #hub: EventHub;
  readonly #work?: WorkerParts;
  /** Deletes ended jobs past jobs.retention (on a timer; runOnce() for a round now). */
  readonly retention: Retention;
  readonly #metrics: JobMetrics;
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
    this.#metrics = jobMetrics(runtime, () => this.#work?.worker.active ?? 0);
    if (cfg.worker) {
      this.#work = buildWorker({
        host: runtime,
        lanes,
        engine: this.engine,
        hub: this.#hub,
        registry: this.#registry,
        metrics: this.#metrics,
        report,
        enqueueChild: (parent, task, input, opts, key) => this.#enqueueChild(parent, task, input, opts, key),
        onAttemptEnded: (job) => this.#sl.freed(job),
      });
    }
    this.#sl = new SchedulesLimits({
      engine: this.engine,
      registry: this.#registry,
      host: runtime,
      enqueue: (task, input, opts) => this.enqueue(task, input, opts),
      wake: () => this.#work?.worker.wake(),
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
      this.#work?.worker.start();
      this.#work?.wake.start();
      this.retention.start();
      await this.#sl.start();
    });
    runtime.onClose('jobs', (info) => this.close({ deadlineMs: info?.remainingMs }));
  }

  /** The worker's id in this process (undefined when `jobs.worker` is false). */
  get workerId(): string | undefined {
    return this.#work?.worker.workerId;
  }

  async enqueue(task: string, input: unknown, opts: EnqueueOptions = {}): Promise<JobRecord> {
    this.#assertOpen();
    const item = this.#prepare(task, input, opts);
    const job = await storeOne(this.engine, item);
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
    const job = await storeOne(this.engine, item);
    this.#enqueued([job]);
    return job;
  }

  #prepare(task: string, input: unknown, opts: EnqueueOptions): PreparedJob {
    return prepareJob(
      { host: this.#runtime, registry: this.#registry, groupOf: (def, value) => this.#sl.groupOf(def, value) },
      task,
      input,
      opts,
    );
  }

  #enqueued(jobs: readonly JobRecord[]): void {
    for (const job of jobs) this.#metrics.enqueued(job.task);
    this.#work?.worker.wake();
    const job = jobs[0];
    if (job && this.#work && !this.#started && !this.#warnedNotStarted) {
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
    if (record.state === 'running') this.#work?.worker.cancelLocal(id);
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
    this.#work?.worker.wake();
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
      this.#work?.worker.wake();
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
    this.#work?.worker.wake();
  }

  async registerModule(path: string): Promise<string[]> {
    this.#assertOpen();
    const names = await this.#registry.addModule(path, this.#runtime.config.baseDir);
    this.#work?.worker.wake();
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
    this.#closing ??= closeParts(
      {
        engine: this.engine,
        hub: this.#hub,
        retention: this.retention,
        scheduler: this.#sl.scheduler,
        ...(this.#sl.gate ? { gate: this.#sl.gate } : {}),
        ...(this.#work ? { worker: this.#work } : {}),
      },
      options.deadlineMs ?? this.#runtime.config.closeDeadlineMs,
    );
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closing) throw new ClosedError('job system');
    this.#runtime.assertOpen('job system');
  }
}
