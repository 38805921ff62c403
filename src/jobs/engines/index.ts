import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../../errors.js';
import type { ResolvedConfig } from '../../config/index.js';
import type { JobEngine } from '../engine.js';
import { SqliteJobEngine } from './sqlite/sqlite-engine.js';

/** The SQLite file a configuration points at: `store.path` (relative to the config) or `<data>/tasklane.db`. */
export function sqlitePath(config: ResolvedConfig): string {
  const store = config.store;
  if (store.engine === 'sqlite' && store.path) return isAbsolute(store.path) ? store.path : resolve(config.baseDir, store.path);
  return join(config.dataDir, 'tasklane.db');
}

/** The engine the configuration names. */
export function createEngine(config: ResolvedConfig): JobEngine {
  if (config.store.engine === 'sqlite') return new SqliteJobEngine({ path: sqlitePath(config) });
  throw new ConfigError(`store.engine "${config.store.engine}" has no job engine wired in yet: use "sqlite"`, { details: { setting: 'store.engine' } });
}
