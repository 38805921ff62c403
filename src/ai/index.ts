import type { Host } from '../runtime/host.js';
import type { BreakerBoard } from './breaker.js';
import { MemoryResponseCache, type ResponseCache } from './cache.js';
import type { CooldownStore } from './cooldown-store.js';
import { AiMetrics } from './metrics.js';
import { Orchestrator } from './orchestrator.js';
import type { LanguageModel } from './provider.js';
import { createLanguageModel } from './providers/index.js';
import { accountantFor } from './spend/index.js';
import { withModelNames } from './model-facts.js';
import { CallAccounting } from './spend/call-accounting.js';
import type { SpendStore } from './spend/spend-store.js';

export { Orchestrator, type StreamResult, type AiHealth } from './orchestrator.js';
export { MemoryResponseCache, type ResponseCache, type CachedAnswer } from './cache.js';
export { MemoryCooldownStore, type CooldownStore } from './cooldown-store.js';
export type { BreakerBoard } from './breaker.js';
export type * from './types.js';

export interface AttachAiOptions {
  /** Shared key cooldowns (Redis); default in memory. */
  cooldowns?: CooldownStore;
  /** Shared answer cache (Redis); default an in-memory LRU. */
  cache?: ResponseCache;
  /** Shared open breakers (Redis). */
  board?: BreakerBoard;
  /** Where upstream calls run (the `ai` lane); without it they run directly on the loop. */
  lanes?: LaneRunner;
  /** The fleet's spend store (Redis); default SQLite at `spendPath`. */
  spend?: SpendStore;
  /** The SQLite file spend is kept in when no `spend` store is given (the job store's file). */
  spendPath?: string;
}

/**
 * Builds the orchestrator for a runtime: one adapter per configured provider (each owning its
 * connection pool), routes, keys, cache. Upstream calls run in the `ai` lane when lanes are
 * attached. Closed by runtime.close().
 */
export function attachAi(runtime: Host, options: AttachAiOptions = {}): Orchestrator {
  const { config } = runtime;
  const models = new Map<string, LanguageModel>();
  for (const [name, provider] of Object.entries(config.providers)) {
    models.set(name, createLanguageModel(name, withModelNames(provider), { log: runtime.log.child({ provider: name }) }));
  }
  const { lanes } = options;
  const accountant = accountantFor(runtime, options.spend, options.spendPath);
  const orchestrator: Orchestrator = new Orchestrator({
    ...(accountant ? { accounting: new CallAccounting(accountant, config, (p, m) => orchestrator.routes.label(p, m)) } : {}),
    config,
    log: runtime.log.child({ subsystem: 'ai' }),
    metrics: new AiMetrics(runtime.metrics),
    models,
    cooldowns: options.cooldowns,
    cache: options.cache ?? new MemoryResponseCache({ maxEntries: config.ai.cache.maxEntries, ttlMs: config.ai.cache.ttlMs }),
    board: options.board,
    tracing: runtime.tracing,
    ...(lanes
      ? {
          runInLane: <T>(fn: () => Promise<T>, signal: AbortSignal, timeoutMs: number, traceparent?: string) =>
            lanes.run('ai', () => fn(), undefined, { signal, timeoutMs, ...(traceparent ? { traceparent } : {}) }) as Promise<T>,
        }
      : {}),
  });
  runtime.onClose('ai', () => orchestrator.close());
  return orchestrator;
}

/** The one thing the orchestrator needs from lanes (Lanes implements it). */
export interface LaneRunner {
  run(
    lane: string,
    work: () => Promise<unknown>,
    input: unknown,
    options: { signal: AbortSignal; timeoutMs?: number; traceparent?: string },
  ): Promise<unknown>;
}
