import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TasklaneError } from '../errors.js';
import type { ModuleRef, WorkFn } from './types.js';

export function isModuleRef(value: unknown): value is ModuleRef {
  return typeof value === 'object' && value !== null && typeof (value as ModuleRef).module === 'string';
}

/** A module ref's file: URL (paths are resolved against the working directory). */
export function moduleUrl(ref: ModuleRef): string {
  const spec = ref.module;
  if (spec === '') throw new TasklaneError('TL_ERR_LANE_INVALID_WORK', 'work module is empty: give a file path or file: URL');
  if (spec.startsWith('file:')) return spec;
  return pathToFileURL(isAbsolute(spec) ? spec : resolve(spec)).href;
}

/**
 * Imports a work function: the named export (default 'default') when it is a function, or its
 * `run` method when it is an object with one (a task definition).
 */
export async function importWork(url: string, exportName = 'default'): Promise<WorkFn> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new TasklaneError('TL_ERR_LANE_INVALID_WORK', `cannot load work module ${url}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
      details: { module: url },
    });
  }
  const value = mod[exportName];
  if (typeof value === 'function') return value as WorkFn;
  if (typeof value === 'object' && value !== null && typeof (value as { run?: unknown }).run === 'function') {
    const task = value as { run: WorkFn };
    return (input, ctx) => task.run(input, ctx);
  }
  throw new TasklaneError('TL_ERR_LANE_INVALID_WORK', `${url} has no function export "${exportName}" (nor an object with a run method)`, {
    details: { module: url, export: exportName },
  });
}
