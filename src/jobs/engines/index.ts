import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError, type TasklaneError } from '../../errors.js';
import type { ResolvedConfig } from '../../config/index.js';
import type { JobEngine } from '../engine.js';
import { RedisJobEngine } from './redis/redis-engine.js';
import { SqliteJobEngine } from './sqlite/sqlite-engine.js';

/** The SQLite file a configuration points at: `store.path` (relative to the config) or `<data>/tasklane.db`. */
export function sqlitePath(config: ResolvedConfig): string {
  const store = config.store;
  if (store.engine === 'sqlite' && store.path) return isAbsolute(store.path) ? store.path : resolve(config.baseDir, store.path);
  return join(config.dataDir, 'tasklane.db');
}

/** The engine the configuration names. `onError` hears background failures (a Redis outage). */
export function createEngine(config: ResolvedConfig, onError: (err: TasklaneError) => void = () => {}): JobEngine {
  const store = config.store;
  if (store.engine === 'sqlite') return new SqliteJobEngine({ path: sqlitePath(config) });
  if (store.engine === 'redis') return new RedisJobEngine({ url: store.url, prefix: store.prefix, leaseMs: config.jobs.leaseMs, onError });
  throw new ConfigError(`store.engine "${(store as { engine: string }).engine}" is not a job engine: use "sqlite" or "redis"`, { details: { setting: 'store.engine' } });
}
