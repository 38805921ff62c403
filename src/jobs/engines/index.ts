import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError, type TasklaneError } from '../../errors.js';
import type { ResolvedConfig } from '../../config/index.js';
import type { JobEngine } from '../engine.js';
import { SqliteJobEngine } from './sqlite/sqlite-engine.js';

/** The SQLite file a configuration points at: `store.path` (relative to the config) or `<data>/tasklane.db`. */
export function sqlitePath(config: ResolvedConfig): string {
  const store = config.store;
  if (store.engine === 'sqlite' && store.path) return isAbsolute(store.path) ? store.path : resolve(config.baseDir, store.path);
  return join(config.dataDir, 'tasklane.db');
}

/** Builds a job engine; `onError` hears background failures (a Redis outage). */
export type EngineFactory = (onError: (err: TasklaneError) => void) => JobEngine;

/**
 * The engine the configuration names, as a factory. The Redis engine (BullMQ, ioredis) is loaded
 * through import() here, only when the configuration asks for it.
 */
export async function loadEngine(config: ResolvedConfig): Promise<EngineFactory> {
  const store = config.store;
  if (store.engine === 'sqlite') {
    const path = sqlitePath(config);
    return () => new SqliteJobEngine({ path });
  }
  if (store.engine === 'redis') {
    const { RedisJobEngine } = await import('./redis/index.js');
    return (onError) => new RedisJobEngine({ url: store.url, prefix: store.prefix, leaseMs: config.jobs.leaseMs, onError });
  }
  throw new ConfigError(`store.engine "${(store as { engine: string }).engine}" is not a job engine: use "sqlite" or "redis"`, {
    details: { setting: 'store.engine' },
  });
}
