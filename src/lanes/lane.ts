// Over 350 lines: the queue, the timeouts and abort of one lane share their bookkeeping.
/**
 * One lane: a FIFO queue in front of at most `concurrency` running tasks, with a queue bound,
 * queued and running timeouts, abort, and figures. Loop lanes call the work on the event loop;
 * thread lanes hand it to their ThreadPool (created on first use).
 * (Over 350 lines: the queue, both timeouts, abort and the two placements share one task state machine.)
 */
import { performance } from 'node:perf_hooks';
import { ClosedError, LaneFullError, LaneTimeoutError, TasklaneError, invalidWork } from '../errors.js';
import { LaneCounters } from './lane-stats.js';
import { loopContext } from './loop-context.js';
import { importWork, isModuleRef, moduleUrl } from './module-ref.js';
import type { TaskEnvelope, TaskOutcome } from './protocol.js';
import { Kill, ThreadPool } from './thread-pool.js';
import { abortReason } from '../util/async.js';
import { LANE_ABORT_CODES, rebuildError, serializeTaskError, taskError } from './task-error.js';
import type { LaneEnv, LaneOptions, LaneStats, ModuleRef, RunOptions, WorkContext, WorkFn } from './types.js';
import type { TraceSpan } from '../telemetry/tracing.js';

/** What a lane needs from its owner (the Lanes registry on a runtime). */
export type Outcome = 'completed' | 'failed' | 'timed_out' | 'aborted' | 'rejected';

type Target = { fn: WorkFn } | { url: string; export: string };

interface Task {
  id: number;
  target: Target;
  input: unknown;
  opts: RunOptions;
  state: 'queued' | 'running' | 'done';
  enqueuedAt: number;
  startedAt: number;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer?: NodeJS.Timeout;
  graceTimer?: NodeJS.Timeout;
  /** ctx.signal's controller; for thread tasks made only when something asks for the signal. */
  controller?: AbortController;
  kill?: Kill;
  stopping?: TasklaneError;
  onAbort?: () => void;
  /** With tracing on: from enqueue to settle; its traceparent is the parent of the work's AI calls. */
  span?: TraceSpan;
}

export class Lane {
  readonly name: string;
  readonly options: Readonly<LaneOptions>;
  readonly #env: LaneEnv;
  readonly #counters = new LaneCounters();
  #pool?: ThreadPool;
  #queue: Array<Task | undefined> = [];
  #head = 0;
  #queued = 0;
  #active = 0;
  #running = new Set<Task>();
  #nextId = 1;
  #closed = false;
  /** Set by stopAll: nothing queued may start any more. */
  #halted = false;
  #idle: Array<() => void> = [];
  /** Resolved work, by ModuleRef object and by module string (bounded), so a run does not re-resolve paths. */
  #targets = new WeakMap<ModuleRef, Target>();
  #targetsBySpec = new Map<string, Target>();

  constructor(options: LaneOptions, env: LaneEnv) {
    this.name = options.name;
    this.options = Object.freeze({ ...options });
    this.#env = env;
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#queued;
  }

  /**
   * Runs work in this lane. Resolves with its result or rejects with a TasklaneError: LaneFullError
   * (queue full), LaneTimeoutError (queued or running too long), AbortError (signal), ClosedError,
   * TL_ERR_LANE_THREAD_CRASHED, or what the work threw (TL_ERR_TASK_FAILED for plain errors).
   */
  run<O = unknown, I = unknown>(work: WorkFn<I, O> | ModuleRef, input: I, opts: RunOptions = {}): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      if (this.#closed) return reject(new ClosedError(`lane "${this.name}"`));
      let target: Target;
      try {
        target = this.#target(work as WorkFn | ModuleRef);
      } catch (err) {
        return reject(err);
      }
      if (opts.signal?.aborted) {
        this.#count('aborted');
        return reject(abortReason(opts.signal, LANE_ABORT_CODES));
      }
      const task: Task = {
        id: this.#nextId++,
        target,
        input,
        opts,
        state: 'queued',
        enqueuedAt: performance.now(),
        startedAt: 0,
        resolve: resolve as (value: unknown) => void,
        reject,
      };
      if (this.#active < this.options.concurrency && this.#queued === 0) {
        if (this.#env.tracing.enabled) this.#trace(task);
        this.#listen(task);
        this.#start(task);
      } else if (this.#queued >= this.options.maxQueue) {
        this.#count('rejected');
        reject(new LaneFullError(this.name, this.options.maxQueue));
      } else {
        if (this.#env.tracing.enabled) this.#trace(task);
        this.#listen(task);
        this.#enqueue(task);
      }
    });
  }

  stats(): LaneStats {
    return this.#counters.snapshot({
      placement: this.options.placement,
      concurrency: this.options.concurrency,
      maxQueue: this.options.maxQueue,
      active: this.#active,
      queued: this.#queued,
      threads: this.#pool?.threadCount ?? 0,
    });
  }

  /** Stops taking new work; queued and running work goes on. */
  closeIntake(): void {
    this.#closed = true;
  }

  /** Resolves when nothing runs or waits. */
  idle(): Promise<void> {
    if (this.#active === 0 && this.#queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Rejects everything queued and stops everything running (threads terminated at once). */
  stopAll(reason: TasklaneError): void {
    this.#closed = true;
    this.#halted = true;
    for (let i = this.#head; i < this.#queue.length; i++) {
      const task = this.#queue[i];
      if (task && task.state === 'queued') this.#dequeued(task, reason);
    }
    for (const task of [...this.#running]) this.#stop(task, reason, 0);
  }

  /** Closes the thread pool, if one was opened. */
  async closeThreads(ms: number): Promise<void> {
    await this.#pool?.close(ms);
  }

  #target(work: WorkFn | ModuleRef): Target {
    if (typeof work === 'function') {
      if (this.options.placement === 'thread') {
        throw invalidWork(
          `lane "${this.name}" runs in threads: pass { module, export } (a module file a thread can import), not a function`,
          {
            details: { lane: this.name },
          },
        );
      }
      return { fn: work };
    }
    if (!isModuleRef(work)) {
      throw invalidWork(`lane "${this.name}": work must be a function or { module, export }`, { details: { lane: this.name } });
    }
    let target = this.#targets.get(work);
    if (target && 'url' in target && target.export === (work.export ?? 'default')) return target;
    const key = `${work.module}#${work.export ?? 'default'}`;
    target = this.#targetsBySpec.get(key);
    if (!target) {
      target = { url: moduleUrl(work), export: work.export ?? 'default' };
      if (this.#targetsBySpec.size >= 256) this.#targetsBySpec.clear();
      this.#targetsBySpec.set(key, target);
    }
    this.#targets.set(work, target);
    return target;
  }

  /** A span from enqueue to settle, with the time queued; under the caller's span when it names one. */
  #trace(task: Task): void {
    task.span = this.#env.tracing.start(`lane ${this.name}`, {
      ...(task.opts.traceparent ? { parent: task.opts.traceparent } : {}),
      attributes: { 'tasklane.lane.name': this.name, 'tasklane.lane.placement': this.options.placement },
    });
  }

  #listen(task: Task): void {
    const signal = task.opts.signal;
    if (!signal) return;
    task.onAbort = () => {
      const reason = abortReason(signal, LANE_ABORT_CODES);
      if (task.state === 'queued') this.#dequeued(task, reason);
      else if (task.state === 'running') this.#stop(task, reason, task.opts.abortGraceMs ?? 0);
    };
    signal.addEventListener('abort', task.onAbort, { once: true });
  }

  #enqueue(task: Task): void {
    this.#queue.push(task);
    this.#queued++;
    const ms = this.options.queueTimeoutMs ?? this.options.timeoutMs;
    // Ref'd on purpose: work in flight keeps the process alive until it settles (close() clears it).
    task.timer = setTimeout(() => this.#dequeued(task, new LaneTimeoutError(this.name, ms, 'queued')), ms);
  }

  /** Takes a task out of the queue before it ran (timeout, abort, close). */
  #dequeued(task: Task, reason: TasklaneError): void {
    if (task.state !== 'queued') return;
    this.#queued--;
    // The slot stays in the array (skipped by #next) so removal is O(1).
    this.#finish(task);
    this.#count(reason.code === 'TL_ERR_LANE_TIMEOUT' ? 'timed_out' : 'aborted');
    task.span?.end(reason);
    task.reject(reason);
    this.#pump();
  }

  #next(): Task | undefined {
    while (this.#head < this.#queue.length) {
      const task = this.#queue[this.#head];
      this.#queue[this.#head++] = undefined;
      if (task && task.state === 'queued') {
        this.#queued--;
        return task;
      }
    }
    return undefined;
  }

  #pump(): void {
    while (!this.#halted && this.#active < this.options.concurrency && this.#queued > 0) {
      const task = this.#next();
      if (!task) break;
      clearTimeout(task.timer);
      this.#start(task);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#active === 0 && this.#queued === 0 && this.#idle.length) {
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  #start(task: Task): void {
    task.state = 'running';
    task.startedAt = performance.now();
    this.#active++;
    this.#running.add(task);
    this.#counters.recordWait(task.startedAt - task.enqueuedAt);
    if (task.span) {
      task.span.set('tasklane.lane.queue_wait_ms', Math.round((task.startedAt - task.enqueuedAt) * 1000) / 1000);
      task.span.event('started');
    }
    const timeoutMs = task.opts.timeoutMs ?? this.options.timeoutMs;
    task.timer = setTimeout(() => this.#stop(task, new LaneTimeoutError(this.name, timeoutMs, 'running'), 0), timeoutMs);
    if (this.options.placement === 'thread') {
      this.#runThread(task).then(
        (outcome) => (outcome.ok ? this.#settle(task, undefined, outcome.value) : this.#settle(task, rebuildError(outcome.error))),
        (err) => this.#settle(task, err),
      );
    } else {
      this.#runLoop(task).then(
        (value) => this.#settle(task, undefined, value),
        (err) => this.#settle(task, err),
      );
    }
  }

  /** Stops a running task: on the loop it is abandoned at once; a thread gets `graceMs` to stop, then is terminated. */
  #stop(task: Task, reason: TasklaneError, graceMs: number): void {
    if (task.state !== 'running' || task.stopping) return;
    task.stopping = reason;
    task.controller?.abort(reason);
    if (this.options.placement === 'loop') {
      // A function on the loop cannot be terminated: the caller gets the reason now and the
      // work sees ctx.signal aborted.
      this.#settle(task, reason);
    } else if (graceMs <= 0) {
      task.kill!.fire(reason);
    } else {
      this.#pool?.abort(task.id, serializeTaskError(reason));
      task.graceTimer = setTimeout(() => task.kill!.fire(reason), graceMs);
      task.graceTimer.unref();
    }
  }

  #settle(task: Task, err: unknown, value?: unknown): void {
    if (task.state !== 'running') return;
    this.#active--;
    this.#running.delete(task);
    this.#finish(task);
    this.#counters.recordRun(performance.now() - task.startedAt);
    task.span?.end(task.stopping ?? (err !== undefined ? taskError(err) : undefined));
    if (task.stopping) {
      this.#count(task.stopping.code === 'TL_ERR_LANE_TIMEOUT' ? 'timed_out' : 'aborted');
      task.reject(task.stopping);
    } else if (err !== undefined) {
      this.#count('failed');
      task.reject(taskError(err));
    } else {
      this.#count('completed');
      task.resolve(value);
    }
    this.#pump();
  }

  #finish(task: Task): void {
    task.state = 'done';
    clearTimeout(task.timer);
    clearTimeout(task.graceTimer);
    if (task.onAbort) task.opts.signal!.removeEventListener('abort', task.onAbort);
  }

  #count(outcome: Outcome): void {
    const c = this.#counters;
    if (outcome === 'completed') c.completed++;
    else if (outcome === 'failed') c.failed++;
    else if (outcome === 'timed_out') c.timedOut++;
    else if (outcome === 'aborted') c.aborted++;
    else c.rejected++;
  }

  /** ctx.signal of a running task, made on first use (most thread tasks never need one on this side). */
  #signal(task: Task): AbortSignal {
    if (!task.controller) {
      task.controller = new AbortController();
      if (task.stopping) task.controller.abort(task.stopping);
    }
    return task.controller.signal;
  }

  async #runLoop(task: Task): Promise<unknown> {
    const fn = 'fn' in task.target ? task.target.fn : await importWork(task.target.url, task.target.export);
    return fn(task.input, this.#loopContext(task));
  }

  #loopContext(task: Task): WorkContext {
    return loopContext(this.name, this.#env, () => this.#signal(task), task.opts, task.span?.traceparent ?? task.opts.traceparent);
  }

  #runThread(task: Task): Promise<TaskOutcome> {
    if (!('url' in task.target)) return Promise.reject(invalidWork(`lane "${this.name}" runs in threads: pass { module, export }`));
    const env = this.#env;
    this.#pool ??= new ThreadPool({
      lane: this.name,
      threads: this.options.concurrency,
      maxOldGenerationSizeMb: this.options.maxOldGenerationSizeMb,
      ai: () => env.ai(),
      reportError: (err, what) => env.reportError(err, what),
      log: (msg, data, context) => env.log(this.name, msg, data, context),
    });
    task.kill = new Kill();
    const { target, opts } = task;
    const envelope: TaskEnvelope = { id: task.id, module: target.url, input: task.input };
    if (target.export !== 'default') envelope.export = target.export;
    if (opts.context) envelope.context = opts.context;
    // AI calls from the thread come back to this side, where they are put under the task's span.
    const traceparent = task.span?.traceparent ?? opts.traceparent;
    if (task.span) envelope.context = { ...opts.context, traceparent };
    return this.#pool.run(envelope, {
      host: opts.host,
      context: opts.context,
      signal: () => this.#signal(task),
      kill: task.kill,
      traceparent,
    });
  }
}
