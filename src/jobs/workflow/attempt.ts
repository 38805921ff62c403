/**
 * The workflow side of one attempt: builds the task's ctx (step, sleep, waitForSignal, spawn,
 * join, and a journaling ctx.ai) on a loop lane, and parks the job when it must wait. A park is
 * the attempt's end: the engine drops the lease in the same step, the worker loop is told
 * (`parked`), and the attempt's signal aborts so the task's code stops where it waits.
 */
import type { AsyncLocalStorage } from 'node:async_hooks';
import { AbortError, JobError, ValidationError, errorFromJSON } from '../../errors.js';
import type { Lanes } from '../../lanes/lanes.js';
import type { ModuleRef, WorkContext, WorkFn } from '../../lanes/types.js';
import type { JobEngine, JournalEntry } from '../engine.js';
import type { LiveJob } from '../events/live-job.js';
import {
  FINAL_STATES,
  type ChildHandle,
  type ChildOutcome,
  type JobRecord,
  type SpawnOptions,
  type TaskDef,
  type WaitFor,
  type WorkflowContext,
} from '../types.js';
import { JournalCursor } from './journal-cursor.js';
import { StepRunner, type StepScope } from './steps.js';
import { checkSignalName, workflowEngine } from './support.js';
import type { Tracing } from '../../telemetry/tracing.js';

/** What workflows need from the job system, once per runtime. */
export interface WorkflowDeps {
  engine: JobEngine;
  lanes: Lanes;
  maxStepResultBytes: number;
  /** Enqueues a child like runtime.jobs.enqueue (validated), owned as the parent, idempotent by the key given. */
  enqueueChild(parent: JobRecord, task: string, input: unknown, opts: SpawnOptions, idempotencyKey: string): Promise<JobRecord>;
  /** A job parked here: wake it on time (`until`), or look for work now (it went on at once). */
  parkedHere(record: JobRecord): void;
  /** Step spans (tracing on). */
  tracing?: Tracing;
  /** Which step an AI call is made in (one for the runtime; see StepRunnerDeps.scope). */
  stepScope: AsyncLocalStorage<StepScope>;
}

/** One attempt, as the worker loop hands it over. */
export interface AttemptSide {
  job: JobRecord;
  token: string;
  live: LiveJob;
  signal: AbortSignal;
  /** A park is being written (true) or failed (false). */
  parking(on: boolean): void;
  /** The engine parked the job (the record it returned): end the attempt without finishing it. */
  parked(record: JobRecord): void;
}

export class WorkflowAttempt {
  readonly #d: WorkflowDeps;
  readonly #a: AttemptSide;
  readonly #cursor: JournalCursor;
  readonly #steps: StepRunner;

  constructor(deps: WorkflowDeps, attempt: AttemptSide) {
    this.#d = deps;
    this.#a = attempt;
    this.#cursor = new JournalCursor(deps.engine, attempt.job.id, attempt.token);
    this.#steps = new StepRunner({
      job: attempt.job,
      live: attempt.live,
      cursor: this.#cursor,
      lanes: deps.lanes,
      signal: attempt.signal,
      maxResultBytes: deps.maxStepResultBytes,
      ...(deps.tracing ? { tracing: deps.tracing } : {}),
      scope: deps.stepScope,
    });
  }

  /** The work the lane runs: loop work gets the workflow calls on its ctx; thread work runs as it is. */
  wrap(work: WorkFn | ModuleRef): WorkFn | ModuleRef {
    if (typeof work !== 'function') return work;
    return (input, ctx) => {
      this.#steps.base = ctx.ai;
      if (typeof ctx.traceparent === 'string') this.#steps.traceparent = ctx.traceparent;
      // A ctx that keeps the lane's lazy getters (signal) and adds the workflow calls.
      const flow: WorkflowContext & { ai: WorkContext['ai'] } = {
        ai: this.#steps.ai(),
        step: (name: string, fn: never, options?: never) => this.#steps.step(name, fn, options),
        sleep: (ms: number) => this.#sleepUntil(() => Date.now() + checkMs(ms)),
        sleepUntil: (date: Date | number) => this.#sleepUntil(() => (date instanceof Date ? date.getTime() : Number(date))),
        waitForSignal: (name: string, options?: { timeoutMs?: number }) => this.#waitForSignal(name, options),
        spawn: (task: string | TaskDef, input: unknown, options?: SpawnOptions) => this.#spawn(task, input, options),
        join: (children: ReadonlyArray<ChildHandle | string>) => this.#join(children),
      } as never;
      return work(input, Object.assign(Object.create(ctx) as WorkContext, flow));
    };
  }

  /** True for an error that is the workflow's final answer (a stored failure): no job-level retry. */
  isFinal(err: unknown): boolean {
    return typeof err === 'object' && err !== null && this.#cursor.final.has(err);
  }

  async #sleepUntil(when: () => number): Promise<void> {
    const call = await this.#cursor.next('sleep', '');
    const stored = call.entry?.result as { until?: number } | undefined;
    const until = stored?.until ?? when();
    if (!Number.isFinite(until)) throw new ValidationError(`ctx.sleepUntil: not a date (${String(until)})`);
    if (until <= Date.now()) return;
    const entry: JournalEntry = {
      key: call.key,
      pos: call.pos,
      status: 'waiting',
      result: { until },
      startedAt: call.entry?.startedAt ?? Date.now(),
    };
    await this.#park({ kind: 'sleep', until }, [entry]);
  }

  async #waitForSignal(name: string, options: { timeoutMs?: number } = {}): Promise<never> {
    checkSignalName(name);
    if (options.timeoutMs !== undefined) checkMs(options.timeoutMs);
    const call = await this.#cursor.next('signal', name);
    const { entry } = call;
    if (entry?.status === 'completed') return entry.result as never;
    if (entry?.status === 'failed') throw this.#cursor.markFinal(errorFromJSON(entry.error!));
    const startedAt = entry?.startedAt ?? Date.now();
    const timeoutAt =
      (entry?.result as { timeoutAt?: number } | undefined)?.timeoutAt ??
      (options.timeoutMs !== undefined ? startedAt + options.timeoutMs : undefined);
    const engine = workflowEngine(this.#d.engine, 'takeSignal');
    const got = await engine.takeSignal(this.#a.job.id, this.#a.token, name, { key: call.key, pos: call.pos, startedAt });
    if (got) {
      this.#cursor.remember({ key: call.key, pos: call.pos, status: 'completed', result: got.payload, startedAt });
      return got.payload as never;
    }
    if (timeoutAt !== undefined && timeoutAt <= Date.now()) {
      const err = new JobError('TL_ERR_JOB_SIGNAL_TIMEOUT', `no signal "${name}" arrived within ${timeoutAt - startedAt} ms`, {
        details: { jobId: this.#a.job.id, signal: name },
      });
      await this.#cursor.write([
        { key: call.key, pos: call.pos, status: 'failed', error: { code: err.code, message: err.message }, startedAt, endedAt: Date.now() },
      ]);
      throw this.#cursor.markFinal(err);
    }
    const waitFor: WaitFor = timeoutAt !== undefined ? { kind: 'signal', name, timeoutAt } : { kind: 'signal', name };
    return this.#park(waitFor, [{ key: call.key, pos: call.pos, status: 'waiting', result: { timeoutAt: timeoutAt ?? null }, startedAt }]);
  }

  async #spawn(task: string | TaskDef, input: unknown, options: SpawnOptions = {}): Promise<ChildHandle> {
    const name = typeof task === 'string' ? task : task?.name;
    if (typeof name !== 'string' || name === '') throw new ValidationError('ctx.spawn: pass a task name or a task definition');
    const call = await this.#cursor.next('spawn', name);
    if (call.entry?.status === 'completed') {
      const { id } = call.entry.result as { id: string };
      return { id, task: name };
    }
    const { job, live } = this.#a;
    this.#a.signal.throwIfAborted();
    const child = await this.#d.enqueueChild(job, name, input, options, `wf\u001f${job.id}\u001f${call.key}`);
    const failParent = options.failParentOnChildFailure ?? true;
    await this.#cursor.write([
      {
        key: call.key,
        pos: call.pos,
        status: 'completed',
        result: { id: child.id, failParent },
        startedAt: Date.now(),
        endedAt: Date.now(),
      },
    ]);
    live.emit('child.started', { id: child.id, task: name });
    return { id: child.id, task: name };
  }

  /**
   * Always parks once before answering, even when every child already ended: the park is where
   * the engine writes the `child.ended` events of children that ended while this job was held.
   */
  async #join(children: ReadonlyArray<ChildHandle | string>): Promise<never> {
    const ids = children.map((c) => (typeof c === 'string' ? c : c?.id));
    if (ids.some((id) => typeof id !== 'string')) throw new ValidationError('ctx.join: pass the handles ctx.spawn returned');
    const call = await this.#cursor.next('join', '');
    const { entry } = call;
    if (entry?.status === 'completed') return entry.result as never;
    if (entry?.status === 'failed') throw this.#cursor.markFinal(errorFromJSON(entry.error!));
    const startedAt = entry?.startedAt ?? Date.now();
    const waiting: JournalEntry = { key: call.key, pos: call.pos, status: 'waiting', result: { ids }, startedAt };
    if (!entry) return this.#park({ kind: 'children', ids }, [waiting]);
    const kids = new Map((await workflowEngine(this.#d.engine, 'children').children(this.#a.job.id)).map((k) => [k.id, k]));
    const missing = ids.filter((id) => !kids.has(id));
    if (missing.length > 0) {
      throw this.#cursor.markFinal(
        new ValidationError(
          `ctx.join: ${missing.join(', ')} ${missing.length === 1 ? 'is not a child' : 'are not children'} of job ${this.#a.job.id}`,
        ),
      );
    }
    if (ids.some((id) => !FINAL_STATES.has(kids.get(id)!.state))) return this.#park({ kind: 'children', ids }, [waiting]);
    const outcomes: ChildOutcome[] = ids.map((id) => {
      const k = kids.get(id)!;
      return k.state === 'succeeded'
        ? { id, state: k.state, result: k.result ?? null }
        : { id, state: k.state, ...(k.error ? { error: k.error } : {}) };
    });
    const failParent = new Map(
      this.#cursor
        .entries('spawn:')
        .map((e) => [(e.result as { id: string }).id, (e.result as { failParent?: boolean }).failParent !== false]),
    );
    const failed = outcomes.filter((o) => o.state !== 'succeeded' && (failParent.get(o.id) ?? true));
    if (failed.length > 0) {
      const err = new JobError(
        'TL_ERR_JOB_CHILD_FAILED',
        `${failed.length} of ${ids.length} child job${ids.length === 1 ? '' : 's'} did not succeed: ${failed.map((f) => `${f.id} ${f.state}${f.error ? ` (${f.error.code})` : ''}`).join(', ')}`,
        { details: { children: outcomes } },
      );
      await this.#cursor.write([{ ...waiting, status: 'failed', error: { code: err.code, message: err.message }, endedAt: Date.now() }]);
      throw this.#cursor.markFinal(err);
    }
    await this.#cursor.write([{ ...waiting, status: 'completed', result: outcomes, endedAt: Date.now() }]);
    return outcomes as never;
  }

  /** Parks the job (its events stored first), tells the worker loop, and stops the task where it waits. */
  async #park(waitFor: WaitFor, entries: JournalEntry[]): Promise<never> {
    const { live, job, token } = this.#a;
    this.#a.signal.throwIfAborted();
    await live.flush();
    const engine = workflowEngine(this.#d.engine, 'park');
    this.#a.parking(true);
    let record: JobRecord;
    try {
      record = await engine.park(job.id, token, waitFor, entries);
    } catch (err) {
      this.#a.parking(false);
      throw err;
    }
    this.#a.parked(record);
    this.#d.parkedHere(record);
    throw new AbortError(
      `job ${job.id} is ${record.state === 'waiting' ? 'waiting' : record.state}: this attempt stops here and the job resumes later`,
    );
  }
}

function checkMs(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
    throw new ValidationError(`expected a duration in ms ≥ 0, got ${String(ms)}`);
  return ms;
}
