import { LRUCache } from 'lru-cache';

/**
 * Where cooldowns live. The in-memory store serves one process; a shared store (Redis) lets a
 * fleet honour one provider's Retry-After together. A cooldown's scope is a key of a provider,
 * or the pair (key, model) when `model` is given (providers rate-limit per model, so that is the
 * default: see `rateLimitScope`). `get` is synchronous because it runs on every request: a shared
 * store keeps a local mirror and updates it from its backend.
 */
export interface CooldownStore {
  /** Epoch ms until which the key (or the pair, with `model`) cools; 0 (or a past time) when it does not. */
  get(provider: string, keyIndex: number, model?: string): number;
  /** Cools the key (or the pair) until `untilMs` (epoch ms). Never shortens a longer cooldown already set. */
  extend(provider: string, keyIndex: number, untilMs: number, model?: string): void;
  /** Set by the orchestrator: called when a bounded store drops an entry (the evictions metric). */
  onEvict?: () => void;
  /** Every cooldown it knows of, by id (see cooldownId), for health(); a shared store lists the fleet's. */
  entries?(): Iterable<[string, number]>;
}

/** The id of a cooldown scope, the same in memory and on Redis. */
export function cooldownId(provider: string, keyIndex: number, model?: string): string {
  return model === undefined ? `${provider}:${keyIndex}` : `${provider}:${keyIndex}:m:${model}`;
}

/** The (key, model) pair a cooldown id names for `provider`, or undefined (another provider, or a key-wide id). */
export function parseCooldownId(provider: string, id: string): { keyIndex: number; model: string } | undefined {
  if (!id.startsWith(`${provider}:`)) return undefined;
  const rest = id.slice(provider.length + 1);
  const m = /^(\d+):m:([\s\S]+)$/.exec(rest);
  return m ? { keyIndex: Number(m[1]), model: m[2]! } : undefined;
}

/** The default store: a bounded map in this process (the least recently used entry goes first). */
export class MemoryCooldownStore implements CooldownStore {
  readonly #until: LRUCache<string, number>;
  onEvict?: () => void;

  constructor(options: { max?: number; onEvict?: () => void } = {}) {
    this.onEvict = options.onEvict;
    this.#until = new LRUCache<string, number>({
      max: options.max ?? 10_000,
      dispose: (_v: number, _k: string, reason: string) => {
        if (reason === 'evict') this.onEvict?.();
      },
    });
  }

  get(provider: string, keyIndex: number, model?: string): number {
    return this.#until.get(cooldownId(provider, keyIndex, model)) ?? 0;
  }

  entries(): Iterable<[string, number]> {
    return this.#until.entries();
  }

  extend(provider: string, keyIndex: number, untilMs: number, model?: string): void {
    const k = cooldownId(provider, keyIndex, model);
    const old = this.#until.get(k) ?? 0;
    if (untilMs > old) this.#until.set(k, untilMs);
  }
}
