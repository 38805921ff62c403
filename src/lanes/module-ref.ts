import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TasklaneError, invalidWork } from '../errors.js';
import type { ModuleRef, WorkFn } from './types.js';

export function isModuleRef(value: unknown): value is ModuleRef {
  return typeof value === 'object' && value !== null && typeof (value as ModuleRef).module === 'string';
}

/** A module ref's file: URL (paths are resolved against the working directory). */
export function moduleUrl(ref: ModuleRef): string {
  const spec = ref.module;
  if (spec === '') throw invalidWork('work module is empty: give a file path or file: URL');
  if (spec.startsWith('file:')) return spec;
  return pathToFileURL(isAbsolute(spec) ? spec : resolve(spec)).href;
}

/**
 * An export "name" that asks the thread to find the task by its name among the module's exports.
 * The main thread then never imports the module itself to learn the export's name: that import
 * waits for the module's evaluation, which never ends when the module is the entry script still
 * in a top-level await on the very job (issue #16). In the thread, the lookup runs inside the
 * attempt, under the lane's timeout.
 */
export const TASK_BY_NAME = 'tasklane:task=';

const TASK_MARK = Symbol.for('tasklane.task');

/** The error of an import that failed, unless it is one that must reach the job as it is. */
function loadError(url: string, err: unknown): unknown {
  if (TasklaneError.isInstance(err) && err.code === 'TL_ERR_TASK_MODULE_SIDE_EFFECT') return err;
  return invalidWork(`cannot load work module ${url}: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
    details: { module: url },
  });
}

/**
 * Imports a work function: the named export (default 'default') when it is a function, or its
 * `run` method when it is an object with one (a task definition). `TASK_BY_NAME + name` finds the
 * exported task definition with that name.
 */
export async function importWork(url: string, exportName = 'default'): Promise<WorkFn> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw loadError(url, err);
  }
  if (exportName.startsWith(TASK_BY_NAME)) {
    const name = exportName.slice(TASK_BY_NAME.length);
    for (const value of Object.values(mod)) {
      const task = value as { name?: unknown; run?: unknown; [TASK_MARK]?: unknown } | null;
      if (typeof task === 'object' && task !== null && task[TASK_MARK] === true && task.name === name && typeof task.run === 'function') {
        const run = task.run as WorkFn;
        return (input, ctx) => run.call(task, input, ctx);
      }
    }
    throw invalidWork(`task "${name}" is not exported by ${url}: export the object defineTask returns`, {
      details: { module: url, task: name },
    });
  }
  const value = mod[exportName];
  if (typeof value === 'function') return value as WorkFn;
  if (typeof value === 'object' && value !== null && typeof (value as { run?: unknown }).run === 'function') {
    const task = value as { run: WorkFn };
    return (input, ctx) => task.run(input, ctx);
  }
  throw invalidWork(`${url} has no function export "${exportName}" (nor an object with a run method)`, {
    details: { module: url, export: exportName },
  });
}
