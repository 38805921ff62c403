/**
 * Task definitions. A task is a plain object exported by a module file, so a worker thread can
 * import the same module and find the same `run`; `defineTask(def, import.meta.url)` records
 * that file.
 */
import { ConfigError } from '../errors.js';
import { checkTaskLimits } from './limits/spec.js';
import type { BackoffOptions, TaskDef } from './types.js';

const TASK = Symbol.for('tasklane.task');

/**
 * Declares a task. Pass `import.meta.url` as the second argument so thread lanes know which
 * module to load (tasks on loop lanes run without it). Export the returned object.
 */
export function defineTask<I, O>(def: TaskDef<I, O>, moduleUrl?: string): TaskDef<I, O> {
  if (typeof def?.name !== 'string' || def.name.length === 0) throw new ConfigError('defineTask: "name" must be a non-empty string');
  if (typeof def.lane !== 'string' || def.lane.length === 0)
    throw new ConfigError(`task "${def.name}": "lane" must name a lane (e.g. "ai", "data", "io")`);
  if (typeof def.run !== 'function') throw new ConfigError(`task "${def.name}": "run" must be a function (input, ctx) => result`);
  if (def.maxAttempts !== undefined && (!Number.isInteger(def.maxAttempts) || def.maxAttempts < 1)) {
    throw new ConfigError(`task "${def.name}": maxAttempts must be an integer ≥ 1, got ${String(def.maxAttempts)}`);
  }
  checkTaskLimits(def);
  const task = { ...def, ...(moduleUrl ? { module: moduleUrl } : {}) };
  Object.defineProperty(task, TASK, { value: true, enumerable: true });
  return Object.freeze(task);
}

/** True for objects made by defineTask (works across duplicated package copies). */
export function isTask(value: unknown): value is TaskDef {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TASK] === true;
}

/** Delay before the next attempt after attempt `attempt` (1-based) failed, in ms. */
export function backoffDelay(backoff: BackoffOptions | undefined, attempt: number, random = Math.random): number {
  const base = backoff?.baseMs ?? 1_000;
  const max = backoff?.maxMs ?? 60_000;
  const raw = backoff?.type === 'fixed' ? base : base * (backoff?.factor ?? 2) ** Math.max(0, attempt - 1);
  const jitter = Math.min(1, Math.max(0, backoff?.jitter ?? 0));
  const spread = raw * jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(Math.min(max, raw + spread)));
}
