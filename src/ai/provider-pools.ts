import type { ResolvedConfig } from '../config/index.js';
import type { Logger } from '../runtime/index.js';
import type { CooldownStore } from './cooldown-store.js';
import type { ProviderEntry } from './dispatch-types.js';
import { KeyPool } from './key-pool.js';
import type { AiMetrics } from './metrics.js';
import type { LanguageModel } from './provider.js';

/**
 * The configured providers, each with its adapter and its key pool, and what a reload may change
 * of them (the keys) without a restart.
 */
export class ProviderPools {
  readonly entries = new Map<string, ProviderEntry>();
  readonly #cooldowns: CooldownStore;
  readonly #metrics: AiMetrics;

  constructor(config: ResolvedConfig, models: Map<string, LanguageModel>, cooldowns: CooldownStore, metrics: AiMetrics, log: Logger) {
    this.#cooldowns = cooldowns;
    this.#metrics = metrics;
    for (const [name, model] of models) {
      const pool = this.#pool(name, config.providers[name]!, config.ai.maxTrackedPairs);
      this.entries.set(name, { name, model, pool, log: log.child({ provider: name }) });
    }
  }

  /** Cooling and refused pairs per key, for the bounded-cardinality gauges. */
  pairCounts(): Array<{ provider: string; keyIndex: number; cooling: number; refused: number }> {
    const out: Array<{ provider: string; keyIndex: number; cooling: number; refused: number }> = [];
    const now = Date.now();
    for (const p of this.entries.values()) {
      for (const k of p.pool.health(now)) {
        out.push({
          provider: p.name,
          keyIndex: k.index,
          cooling: k.models.filter((m) => m.coolingUntil).length,
          refused: k.models.filter((m) => m.refusedUntil).length,
        });
      }
    }
    return out;
  }

  /**
   * New keys of a provider take effect with a new key pool; calls in flight hold a lease on the old
   * one, so they finish with the key they started with. Adding or removing a provider, or changing
   * anything else about one (URL, type, headers), needs a restart: named in `restart`, not applied.
   */
  reloadKeys(next: ResolvedConfig, previous: ResolvedConfig): { applied: string[]; restart: string[] } {
    const applied: string[] = [];
    const restart: string[] = [];
    for (const name of new Set([...Object.keys(previous.providers), ...Object.keys(next.providers)])) {
      const a = previous.providers[name];
      const b = next.providers[name];
      const entry = this.entries.get(name);
      if (!a || !b || !entry) {
        restart.push(`providers.${name}`);
        continue;
      }
      const { apiKeys: keysA, ...restA } = a;
      const { apiKeys: keysB, ...restB } = b;
      if (JSON.stringify(restA) !== JSON.stringify(restB)) restart.push(`providers.${name}`);
      if (keysA.length !== keysB.length || keysA.some((k, i) => k !== keysB[i])) {
        entry.pool = this.#pool(name, b, next.ai.maxTrackedPairs);
        applied.push(`providers.${name}.apiKeys`);
      }
    }
    return { applied, restart };
  }

  #pool(name: string, p: ResolvedConfig['providers'][string], maxPairs: number): KeyPool {
    return new KeyPool(name, p.apiKeys, this.#cooldowns, {
      concurrency: p.keyConcurrency ?? Infinity,
      maxPairs,
      onEvict: (map) => this.#metrics.evictions.labels(map).inc(),
    });
  }
}
