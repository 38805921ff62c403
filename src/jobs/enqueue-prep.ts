/**
 * What every enqueue path shares: options checked, input parsed against the task's schema,
 * attempts resolved, the enqueue span opened, and idempotency keys scoped to their owner.
 */
import { ValidationError } from '../errors.js';
import type { Host } from '../runtime/host.js';
import type { TraceSpan } from '../telemetry/tracing.js';
import type { EngineEnqueueItem, EngineEnqueueOptions, JobEngine } from './engine.js';
import { enqueueSpan } from './job-trace.js';
import type { TaskRegistry } from './task-registry.js';
import type { EnqueueItem, EnqueueOptions, JobRecord, TaskDef } from './types.js';

/** Most jobs one enqueueMany (or one POST /v1/jobs array) takes. */
export const ENQUEUE_MANY_MAX = 1_000;

const IDEMPOTENCY_KEY_MAX = 200;

/** Between an owner's key name and its idempotency key in the stored key (names never hold it). */
const OWNER_SEP = '\u001f';

export type PreparedJob = EngineEnqueueItem & { span?: TraceSpan };

export interface PrepareDeps {
  host: Host;
  registry: TaskRegistry;
  /** The limit group of a job (schedules-limits.ts), undefined when its task has no limits. */
  groupOf(def: TaskDef, input: unknown): string | undefined;
}

/** Validates one job against its task (input schema, options) and resolves its attempts. */
export function prepareJob(deps: PrepareDeps, task: string, input: unknown, opts: EnqueueOptions): PreparedJob {
  const def = deps.registry.get(task);
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
  const maxAttempts = opts.maxAttempts ?? def.maxAttempts ?? deps.host.config.jobs.maxAttempts;
  const engineOpts: EngineEnqueueOptions = { ...opts, maxAttempts };
  const group = deps.groupOf(def, value);
  if (group !== undefined) engineOpts.group = group;
  // The trace context is kept only with tracing on (off, nothing is stored for it).
  const tracing = deps.host.tracing;
  const span = tracing.enabled ? enqueueSpan(tracing, task, opts.traceparent) : undefined;
  if (span) engineOpts.traceparent = span.traceparent;
  else delete engineOpts.traceparent;
  // Idempotency keys are per owner: another key using the same one makes its own job, and never
  // learns that the key was taken.
  if (opts.owner && opts.idempotencyKey !== undefined) engineOpts.idempotencyKey = `${opts.owner.key}${OWNER_SEP}${opts.idempotencyKey}`;
  return span ? { task, input: value, opts: engineOpts, span } : { task, input: value, opts: engineOpts };
}

/** Stores one prepared job, ending its enqueue span either way. */
export async function storeOne(engine: JobEngine, item: PreparedJob): Promise<JobRecord> {
  let job: JobRecord;
  try {
    job = await engine.enqueue(item.task, item.input, item.opts);
  } catch (err) {
    item.span?.end(err);
    throw err;
  }
  item.span?.set('tasklane.job.id', job.id);
  item.span?.end();
  return job;
}

/** The record with the idempotency key as its owner gave it. */
export function unscoped(job: JobRecord): JobRecord {
  const prefix = job.owner && `${job.owner.key}${OWNER_SEP}`;
  if (!prefix || !job.idempotencyKey?.startsWith(prefix)) return job;
  return { ...job, idempotencyKey: job.idempotencyKey.slice(prefix.length) };
}

/** The options part of an enqueueMany item. */
export function jobOptions(item: EnqueueItem | undefined): EnqueueOptions {
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
