/** A task's `rateLimit` / `concurrency` options: checked at defineTask, and the group of an input. */
import { ConfigError, jobsError } from '../../errors.js';
import type { TaskDef } from '../types.js';
import type { LimitSpec } from './types.js';

const GROUP_MAX = 200;

/** Throws ConfigError naming the option when the task's limits are malformed. */
export function checkTaskLimits(def: TaskDef): void {
  const bad = (what: string) => new ConfigError(`task "${def.name}": ${what}`, { details: { task: def.name } });
  const count = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;
  const { rateLimit: r, concurrency: c } = def;
  if (r !== undefined) {
    if (typeof r !== 'object' || r === null || !count(r.limit) || !count(r.periodMs))
      throw bad('rateLimit must be { limit: integer ≥ 1, periodMs: integer ≥ 1, key?: (input) => string }');
    if (r.key !== undefined && typeof r.key !== 'function') throw bad('rateLimit.key must be a function (input) => string');
  }
  if (c !== undefined) {
    if (typeof c !== 'object' || c === null || !count(c.limit))
      throw bad('concurrency must be { limit: integer ≥ 1, key?: (input) => string }');
    if (c.key !== undefined && typeof c.key !== 'function') throw bad('concurrency.key must be a function (input) => string');
  }
  if (r?.key && c?.key && r.key !== c.key)
    throw bad('rateLimit.key and concurrency.key differ: a job has one group, so give the key once (or the same function to both)');
}

/** The task's limits as an engine keeps them, or undefined for a task without any. */
export function limitSpecOf(def: TaskDef): LimitSpec | undefined {
  if (!def.rateLimit && !def.concurrency) return undefined;
  const spec: LimitSpec = {};
  if (def.concurrency) spec.concurrency = def.concurrency.limit;
  if (def.rateLimit) spec.rate = { limit: def.rateLimit.limit, periodMs: def.rateLimit.periodMs };
  return spec;
}

/** The input's group: the key function's answer ('' without one). TL_ERR_JOB_LIMIT_KEY when it throws or answers no short string. */
export function groupOf(def: TaskDef, input: unknown): string | undefined {
  if (!def.rateLimit && !def.concurrency) return undefined;
  const key = def.concurrency?.key ?? def.rateLimit?.key;
  if (!key) return '';
  let group: unknown;
  try {
    group = key(input);
  } catch (err) {
    throw jobsError('TL_ERR_JOB_LIMIT_KEY', `task "${def.name}": its limit key threw for this input: ${(err as Error).message}`, {
      details: { task: def.name },
    });
  }
  if (typeof group !== 'string' || group.length === 0 || group.length > GROUP_MAX)
    throw jobsError(
      'TL_ERR_JOB_LIMIT_KEY',
      `task "${def.name}": its limit key must answer a string of 1 to ${GROUP_MAX} characters, got ${typeof group === 'string' ? `${group.length} characters` : typeof group}`,
      { details: { task: def.name } },
    );
  return group;
}
