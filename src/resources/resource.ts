import { isMainThread } from 'node:worker_threads';

/**
 * A resource each thread opens for itself (a database pool, a client, a parser) and closes when the
 * thread or runtime closes. Never shared across threads: a pool bound to one thread's event loop
 * stays on that loop.
 */
export interface ResourceDef<T = unknown> {
  readonly name: string;
  /** Opens the resource; called once per thread that asks for it. */
  create(): T | Promise<T>;
  /** Closes it; called once, when its thread (or the runtime, for the main thread) closes. */
  close?(value: T): unknown | Promise<unknown>;
}

/** Where a worker thread keeps the definitions it has seen, so `ctx.resource('name')` finds them. */
export const THREAD_DEFS = Symbol.for('tasklane.thread-resource-defs');

/**
 * Defines a per-thread resource. Pass the returned object to `ctx.resource(def)`. In a worker
 * thread the definition is also registered under its name for that thread (each thread has its
 * own module instances, so the registry is per thread; it lives on globalThis so that two copies
 * of this module in one thread share it). On the main thread nothing is registered globally:
 * names resolve through the runtime's lanes (`runtime.lanes.resources.register(def)`).
 */
export function defineResource<T>(def: {
  name: string;
  create(): T | Promise<T>;
  close?(value: T): unknown | Promise<unknown>;
}): ResourceDef<T> {
  if (typeof def?.name !== 'string' || def.name === '') throw new TypeError('defineResource: name must be a non-empty string');
  if (typeof def.create !== 'function') throw new TypeError(`defineResource("${def.name}"): create must be a function`);
  const frozen: ResourceDef<T> = Object.freeze({ name: def.name, create: def.create, close: def.close });
  if (!isMainThread) {
    const g = globalThis as Record<symbol, Map<string, ResourceDef> | undefined>;
    (g[THREAD_DEFS] ??= new Map()).set(def.name, frozen as ResourceDef);
  }
  return frozen;
}
