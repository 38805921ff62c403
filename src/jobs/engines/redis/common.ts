import type { Redis } from 'ioredis';
import { StoreError, TasklaneError } from '../../../errors.js';

/** A connection with the engine's Lua scripts defined on it (see scripts.ts). */
export type Scripted = Redis & Record<string, (...args: Array<string | number>) => Promise<unknown>>;

export function storeError(err: unknown): TasklaneError {
  if (TasklaneError.isInstance(err)) return err;
  return new StoreError('TL_ERR_STORE_UNAVAILABLE', `redis: ${(err as Error).message}`, { cause: err });
}

/** A BullMQ call, its failure typed as a store error. */
export async function bull<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw storeError(err);
  }
}

/** Runs one of our scripts: keys, then the prefix and clock every script takes first, then its arguments. */
export async function callScript(client: Scripted, prefix: string, name: string, keys: string[], args: Array<string | number>, now = Date.now()): Promise<unknown> {
  try {
    return await client[name]!(...keys, prefix, now, ...args);
  } catch (err) {
    throw storeError(err);
  }
}
