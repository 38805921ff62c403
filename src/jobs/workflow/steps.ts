/**
 * `ctx.step`: runs a step once per job, inline or in another lane, with retries, backoff and a
 * timeout per try, and stores its JSON result (or final error) before it counts as done. AI calls
 * made inside a step are journaled one by one (`ai:<step key>#<call index>`), so a step cut off
 * after two of three calls replays those two answers and pays only for the third.
 */
import type { AsyncLocalStorage } from 'node:async_hooks';
import { ConfigError, JobError, type TasklaneError, errorFromJSON, toTasklaneError, runtimeStateError } from '../../errors.js';
import type { AiCallOptions, AiClient, ChatRequest, EmbeddingRequest } from '../../ai/types.js';
import type { Lanes } from '../../lanes/lanes.js';
import { TASK_BY_NAME } from '../../lanes/module-ref.js';
import type { ModuleRef, WorkContext, WorkFn } from '../../lanes/types.js';
import { sleep, withDeadline } from '../../util/async.js';
import type { LiveJob } from '../events/live-job.js';
import { backoffDelay, isTask } from '../task.js';
import type { JobRecord, StepContext, StepOptions, TaskDef } from '../types.js';
import type { JournalCursor } from './journal-cursor.js';
import { checkStepName } from './support.js';
import type { TraceSpan, Tracing } from '../../telemetry/tracing.js';

/** A step's span (tracing on), under the task's lane span: replays and tries are attributes. */
function stepSpan(tracing: Tracing, parent: string | undefined, job: JobRecord, name: string): TraceSpan {
  return tracing.start(`step ${name}`, {
    ...(parent ? { parent } : {}),
    attributes: { 'tasklane.step.name': name, 'tasklane.job.id': job.id, 'tasklane.job.task': job.task },
  });
}

/** The step an AI call belongs to, and how many calls it made so far (across its tries). */
export interface StepScope {
  key: string;
  calls: number;
  /** The step's span (tracing on): its AI calls and its lane task go under it. */
  traceparent?: string;
}

export interface StepRunnerDeps {
  job: JobRecord;
  live: LiveJob;
  cursor: JournalCursor;
  lanes: Lanes;
  /** The attempt's signal (cancel, lease lost, park, close). */
  signal: AbortSignal;
  maxResultBytes: number;
  /** Step spans; off or absent = none. */
  tracing?: Tracing;
  /**
   * The step an AI call is made in. One per runtime, shared by every attempt: an
   * AsyncLocalStorage that has run stays registered with async_hooks for good.
   */
  scope: AsyncLocalStorage<StepScope>;
}

export class StepRunner {
  readonly #d: StepRunnerDeps;
  readonly #scope: AsyncLocalStorage<StepScope>;
  /** The AI client work would have had without workflows (set when the task's context is built). */
  base?: AiClient;
  /** The span steps go under: the task's lane span (set with `base`). */
  traceparent?: string;

  constructor(deps: StepRunnerDeps) {
    this.#d = deps;
    this.#scope = deps.scope;
  }

  /** ctx.ai for the task: journaled inside a step, the plain client outside one. */
  ai(): AiClient {
    return {
      chat: (req: ChatRequest, opts?: AiCallOptions) => this.#aiCall(this.#scope.getStore(), 'chat', req, opts),
      embed: (req: EmbeddingRequest, opts?: AiCallOptions) => this.#aiCall(this.#scope.getStore(), 'embed', req, opts),
    } as AiClient;
  }

  async step<T>(name: string, fn: ((s: StepContext) => T | Promise<T>) | TaskDef, options: StepOptions = {}): Promise<T> {
    const tracing = this.#d.tracing;
    if (!tracing?.enabled) return this.#step(name, fn, options);
    const span = stepSpan(tracing, this.traceparent, this.#d.job, name);
    try {
      const value = await this.#step(name, fn, options, span);
      span.end();
      return value;
    } catch (err) {
      span.end(err);
      throw err;
    }
  }

  async #step<T>(name: string, fn: ((s: StepContext) => T | Promise<T>) | TaskDef, options: StepOptions, span?: TraceSpan): Promise<T> {
    checkStepName(name);
    checkOptions(name, fn, options);
    const { cursor, live } = this.#d;
    const call = await cursor.next('step', name);
    const { key, pos, occurrence, entry } = call;
    span?.set('tasklane.step.occurrence', occurrence);
    if (entry?.status === 'completed' || entry?.status === 'failed') {
      span?.set('tasklane.step.replayed', true);
      live.emit('step.replayed', { name, occurrence });
      if (entry.status === 'completed') return entry.result as T;
      throw cursor.markFinal(errorFromJSON(entry.error ?? { code: 'TL_ERR_INTERNAL', message: 'step failed' }));
    }
    const startedAt = Date.now();
    const t0 = performance.now();
    live.emit('step.started', { name, occurrence });
    const scope: StepScope = span ? { key, calls: 0, traceparent: span.traceparent } : { key, calls: 0 };
    const tries = 1 + (options.retries ?? 0);
    let last: TasklaneError | undefined;
    for (let n = 1; n <= tries; n++) {
      this.#d.signal.throwIfAborted();
      span?.set('tasklane.step.tries', n);
      try {
        const value = await this.#try(name, fn, options, scope, n);
        const text = value === undefined ? undefined : JSON.stringify(value);
        const bytes = text === undefined ? 0 : Buffer.byteLength(text);
        if (bytes > this.#d.maxResultBytes) {
          last = new JobError(
            'TL_ERR_JOB_STEP_RESULT_TOO_LARGE',
            `step "${name}" returned ${bytes} bytes of JSON, more than jobs.maxStepResultBytes (${this.#d.maxResultBytes}); store large data elsewhere and return a reference, or raise jobs.maxStepResultBytes`,
            { details: { step: name, bytes, limit: this.#d.maxResultBytes } },
          );
          break;
        }
        // What a replay would return: the stored JSON, not the object the step may still hold.
        const result = text === undefined ? undefined : (JSON.parse(text) as T);
        await cursor.write([{ key, pos, status: 'completed', result, startedAt, endedAt: Date.now() }]);
        live.emit('step.completed', { name, occurrence, durationMs: Math.round(performance.now() - t0) });
        return result as T;
      } catch (err) {
        // The attempt itself is over (cancel, park, lease lost, close): not the step's failure.
        if (this.#d.signal.aborted) throw err;
        last = toTasklaneError(err, 'TL_ERR_TASK_FAILED');
        if (last.code === 'TL_ERR_JOB_LEASE_LOST') throw last;
        if (n < tries) await sleep(backoffDelay(options.backoff, n), this.#d.signal);
      }
    }
    const error = { code: last!.code, message: last!.message };
    await cursor.write([{ key, pos, status: 'failed', error, startedAt, endedAt: Date.now() }]);
    live.emit('step.failed', { name, occurrence, error });
    throw cursor.markFinal(last!);
  }

  /** One try: inline under the step's AI scope, or as a task in another lane. */
  async #try(
    name: string,
    fn: ((s: StepContext) => unknown) | TaskDef,
    options: StepOptions,
    scope: StepScope,
    n: number,
  ): Promise<unknown> {
    const controller = new AbortController();
    const signal = AbortSignal.any([this.#d.signal, controller.signal]);
    const timeoutMs = options.timeoutMs;
    const running = options.lane
      ? this.#inLane(fn as TaskDef, options, scope, signal)
      : Promise.resolve().then(() => this.#scope.run(scope, () => (fn as (s: StepContext) => unknown)({ signal, try: n })));
    if (timeoutMs === undefined) return running;
    return withDeadline(running, timeoutMs, () => {
      const err = new JobError('TL_ERR_JOB_STEP_TIMEOUT', `step "${name}" try ${n} ran longer than its timeoutMs (${timeoutMs} ms)`, {
        details: { step: name, timeoutMs, try: n },
      });
      controller.abort(err);
      return err;
    });
  }

  #inLane(def: TaskDef, options: StepOptions, scope: StepScope, signal: AbortSignal): Promise<unknown> {
    const { lanes, job, live } = this.#d;
    const lane = options.lane!;
    const ai = this.#scopedAi(scope);
    const thread = lanes.get(lane).options.placement === 'thread';
    if (thread && !def.module) {
      throw new ConfigError(
        `step "${scope.key}" runs task "${def.name}" in thread lane "${lane}", so a thread must import it: write defineTask({...}, import.meta.url) and export it`,
        { details: { task: def.name, lane } },
      );
    }
    const work: WorkFn | ModuleRef = thread
      ? { module: def.module!, export: def.exportName ?? `${TASK_BY_NAME}${def.name}` }
      : (input: unknown, ctx: WorkContext) => def.run(input, Object.assign(Object.create(ctx) as WorkContext, { ai }) as never);
    return lanes.run(lane, work, options.input, {
      signal,
      context: { jobId: job.id, attempt: job.attempt, step: scope.key },
      ...(scope.traceparent ? { traceparent: scope.traceparent } : {}),
      host: { progress: (data) => live.progress(data), ai },
    });
  }

  #scopedAi(scope: StepScope): AiClient {
    return {
      chat: (req: ChatRequest, opts?: AiCallOptions) => this.#aiCall(scope, 'chat', req, opts),
      embed: (req: EmbeddingRequest, opts?: AiCallOptions) => this.#aiCall(scope, 'embed', req, opts),
    } as AiClient;
  }

  async #aiCall(scope: StepScope | undefined, op: 'chat' | 'embed', req: unknown, opts?: AiCallOptions): Promise<never> {
    const base = this.#base();
    if (!scope) return (op === 'chat' ? base.chat(req as ChatRequest, opts) : base.embed(req as EmbeddingRequest, opts)) as Promise<never>;
    const key = `ai:${scope.key}#${scope.calls++}`;
    const { cursor } = this.#d;
    const stored = await cursor.get(key);
    if (stored?.status === 'completed') return stored.result as never;
    const startedAt = Date.now();
    const signal = opts?.signal ? AbortSignal.any([opts.signal, this.#d.signal]) : this.#d.signal;
    // The step's name goes with the call: its cost is kept per step on the job (ai/spend).
    // Inline, the call goes under the step's span (a thread step's calls come with their lane span).
    const traced = scope.traceparent && opts?.traceparent === undefined ? { traceparent: scope.traceparent } : {};
    const charged = { ...opts, ...traced, signal, job: { id: this.#d.job.id, step: stepName(scope.key) } };
    const result = op === 'chat' ? await base.chat(req as ChatRequest, charged) : await base.embed(req as EmbeddingRequest, charged);
    const kept = JSON.parse(JSON.stringify(result));
    await cursor.write([{ key, status: 'completed', result: kept, startedAt, endedAt: Date.now() }]);
    return kept as never;
  }

  #base(): AiClient {
    if (!this.base) throw runtimeStateError('ctx.ai is not available in this step');
    return this.base;
  }
}

/** `step:<name>#<occurrence>` → `<name>` (a step run several times adds up under its name). */
function stepName(key: string): string {
  return key.replace(/^step:/, '').replace(/#\d+$/, '');
}

function checkOptions(name: string, fn: unknown, o: StepOptions): void {
  const bad = (what: string) => {
    throw new ConfigError(`step "${name}": ${what}`, { details: { step: name } });
  };
  if (o.retries !== undefined && (!Number.isInteger(o.retries) || o.retries < 0))
    bad(`retries must be an integer ≥ 0, got ${String(o.retries)}`);
  if (o.timeoutMs !== undefined && (typeof o.timeoutMs !== 'number' || !(o.timeoutMs > 0)))
    bad(`timeoutMs must be a number > 0, got ${String(o.timeoutMs)}`);
  if (o.lane !== undefined) {
    if (!isTask(fn))
      bad(
        `with lane "${o.lane}" the step's work must be a task definition (export const t = defineTask({...}, import.meta.url)), not a closure: a thread cannot run a closure`,
      );
  } else if (typeof fn !== 'function') bad('pass a function (step) => result, or a task definition with options.lane');
}
