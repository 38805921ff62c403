import type { ResolvedConfig } from '../config/index.js';
import { ConfigError } from '../errors.js';
import type { Host } from '../runtime/host.js';
import type { AttachAiOptions } from './index.js';

/** Builds the orchestrator's shared state (cooldowns, breakers, cache) for a runtime. */
export type SharedAiState = (host: Host) => AttachAiOptions;

/**
 * The fleet's shared AI state when the store is Redis, loaded through import() so that a
 * SQLite-only process never loads ioredis; undefined (nothing to share) otherwise.
 */
export async function loadSharedAiState(config: ResolvedConfig): Promise<SharedAiState | undefined> {
  if (config.store.engine !== 'redis') {
    if (config.ai.cache.backend === 'redis') {
      throw new ConfigError(
        'ai.cache.backend is "redis" but store.engine is not: set store.engine to "redis" (with store.url), or ai.cache.backend to "memory"',
      );
    }
    return undefined;
  }
  const { sharedAiOptions } = await import('./shared/index.js');
  return sharedAiOptions;
}
