import { fileURLToPath } from 'node:url';
import type { ModuleRef } from '../../src/lanes/types.js';

/** A task module from test/fixtures/tasks, as a lane ModuleRef. */
export function fixture(name: string, exportName?: string): ModuleRef {
  return { module: fileURLToPath(new URL(`../fixtures/tasks/${name}.ts`, import.meta.url)), ...(exportName ? { export: exportName } : {}) };
}

/** Resolves after `ms` (only for letting real work progress, never as a synchronisation point). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The settled error of a promise that must reject. */
export async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection, got a value');
}
