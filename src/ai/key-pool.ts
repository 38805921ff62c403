import { LRUCache } from 'lru-cache';
import { parseCooldownId, type CooldownStore } from './cooldown-store.js';

/** A key handed out for one call. `release()` must be called once the call settles. */
export interface KeyLease {
  keyIndex: number;
  apiKey: string | undefined;
  release(): void;
}

/** Why no key could be handed out for a model. */
export type NoKey =
  | { reason: 'cooling'; retryAt: number }
  | { reason: 'busy' }
  | { reason: 'refused'; until: number; message: string }
  | { reason: 'disabled' };

/** A (key, model) pair that cools or is refused. */
export interface PairHealth {
  model: string;
  coolingUntil?: number;
  refusedUntil?: number;
  refusedReason?: string;
}

export interface KeyHealth {
  index: number;
  /** Epoch ms until which the whole key cools (rateLimitScope "key"); absent when it does not. */
  coolingUntil?: number;
  disabled: boolean;
  disabledReason?: string;
  /** Epoch ms of the next re-probe of a disabled key. */
  reprobeAt?: number;
  inFlight: number;
  /** Pairs of this key with a model that cool (429) or are refused (403) right now. */
  models: PairHealth[];
}

interface Refusal {
  until: number;
  message: string;
}

export interface KeyPoolOptions {
  concurrency?: number;
  /** Most (key, model) entries tracked (refusals, cooled models); least recently used first out. */
  maxPairs?: number;
  /** Called when a tracked pair is evicted to stay under maxPairs. */
  onEvict?: (map: 'refusals' | 'cooled') => void;
}

/**
 * The keys of one provider, rotated round-robin among the healthy ones. A 429 cools the pair
 * (key, model) (or the whole key: `rateLimitScope`), a 403 refuses the pair for a while, a 401
 * disables the key for every model until a re-probe succeeds. A key may carry at most
 * `concurrency` calls at once. A provider without keys (a local Ollama) has one keyless slot.
 */
export class KeyPool {
  readonly provider: string;
  readonly size: number;
  readonly #keys: Array<string | undefined>;
  readonly #store: CooldownStore;
  readonly #concurrency: number;
  readonly #inFlight: number[];
  readonly #disabled: Array<{ reason: string; reprobeAt?: number } | undefined>;
  readonly #refusals: LRUCache<string, Refusal>;
  /** Models cooled through this pool, so health() can list them (the store cannot be enumerated). */
  readonly #cooled: LRUCache<string, { keyIndex: number; model: string }>;
  #next = 0;
  #waiters = new Set<() => void>();

  constructor(provider: string, keys: string[], store: CooldownStore, options: KeyPoolOptions | number = {}) {
    const o: KeyPoolOptions = typeof options === 'number' ? { concurrency: options } : options;
    this.provider = provider;
    this.#keys = keys.length > 0 ? [...keys] : [undefined];
    this.size = this.#keys.length;
    this.#store = store;
    this.#concurrency = o.concurrency ?? Infinity;
    this.#inFlight = new Array(this.size).fill(0);
    this.#disabled = new Array(this.size).fill(undefined);
    const max = o.maxPairs ?? 10_000;
    const evict = (map: 'refusals' | 'cooled') => (_v: unknown, _k: string, reason: string) => {
      if (reason === 'evict') o.onEvict?.(map);
    };
    this.#refusals = new LRUCache<string, Refusal>({ max, dispose: evict('refusals') });
    this.#cooled = new LRUCache<string, { keyIndex: number; model: string }>({ max, dispose: evict('cooled') });
  }

  /** Takes the next key that may call `model` now, or says why none is free. */
  acquire(model?: string, now = Date.now()): KeyLease | NoKey {
    let soonest = Infinity;
    let busy = false;
    let refused: Refusal | undefined;
    for (let i = 0; i < this.size; i++) {
      const idx = (this.#next + i) % this.size;
      if (this.#disabled[idx] !== undefined) continue;
      if (model !== undefined) {
        const r = this.#refusals.get(pairId(idx, model));
        if (r && r.until > now) {
          if (!refused || r.until < refused.until) refused = r;
          continue;
        }
      }
      const until = Math.max(this.#store.get(this.provider, idx), model === undefined ? 0 : this.#store.get(this.provider, idx, model));
      if (until > now) {
        if (until < soonest) soonest = until;
        continue;
      }
      if (this.#inFlight[idx]! >= this.#concurrency) {
        busy = true;
        continue;
      }
      this.#next = (idx + 1) % this.size;
      this.#inFlight[idx]!++;
      return this.#lease(idx);
    }
    if (busy) return { reason: 'busy' };
    if (soonest !== Infinity) return { reason: 'cooling', retryAt: soonest };
    if (refused) return { reason: 'refused', until: refused.until, message: refused.message };
    return { reason: 'disabled' };
  }

  /** Cools the pair (key, model), or the whole key without `model`, until `untilMs`; never shortens a cooldown. */
  cool(keyIndex: number, untilMs: number, model?: string): void {
    this.#store.extend(this.provider, keyIndex, untilMs, model);
    if (model !== undefined) this.#cooled.set(pairId(keyIndex, model), { keyIndex, model });
  }

  /** Until when the key (or the pair) cools; 0 when it does not. */
  coolingUntil(keyIndex: number, model?: string): number {
    return this.#store.get(this.provider, keyIndex, model);
  }

  /** The provider refused this key access to `model` (a 403): skip the pair until `untilMs`. */
  refuse(keyIndex: number, model: string, untilMs: number, message: string): void {
    this.#refusals.set(pairId(keyIndex, model), { until: untilMs, message });
  }

  /** Takes a key out of rotation for every model (a 401). Returns false if it already was. */
  disable(keyIndex: number, reason: string, reprobeAt?: number): boolean {
    const was = this.#disabled[keyIndex];
    this.#disabled[keyIndex] = { reason, ...(reprobeAt !== undefined ? { reprobeAt } : {}) };
    if (was !== undefined) return false;
    this.#wake();
    return true;
  }

  /** Puts a disabled key back (its re-probe succeeded). */
  enable(keyIndex: number): void {
    this.#disabled[keyIndex] = undefined;
    this.#wake();
  }

  isDisabled(keyIndex: number): boolean {
    return this.#disabled[keyIndex] !== undefined;
  }

  /** The key itself, for a re-probe; never logged. */
  keyAt(keyIndex: number): string | undefined {
    return this.#keys[keyIndex];
  }

  /** Resolves when a slot may have freed up (a lease was released), or rejects on abort. */
  waitForSlot(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const done = (): void => {
        this.#waiters.delete(done);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.#waiters.delete(done);
        reject(signal.reason);
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  health(now = Date.now()): KeyHealth[] {
    const pairs = new Map<number, Map<string, PairHealth>>();
    const pair = (keyIndex: number, model: string): PairHealth => {
      let m = pairs.get(keyIndex);
      if (!m) pairs.set(keyIndex, (m = new Map()));
      let p = m.get(model);
      if (!p) m.set(model, (p = { model }));
      return p;
    };
    if (this.#store.entries) {
      // The store's own view (on Redis: the fleet's), not only what this pool cooled.
      for (const [id, until] of this.#store.entries()) {
        const p = until > now ? parseCooldownId(this.provider, id) : undefined;
        if (p && p.keyIndex < this.size) pair(p.keyIndex, p.model).coolingUntil = until;
      }
    } else {
      for (const { keyIndex, model } of this.#cooled.values()) {
        const until = this.#store.get(this.provider, keyIndex, model);
        if (until > now) pair(keyIndex, model).coolingUntil = until;
      }
    }
    for (const [id, r] of this.#refusals.entries()) {
      if (r.until <= now) continue;
      const bar = id.indexOf('|');
      const p = pair(Number(id.slice(0, bar)), id.slice(bar + 1));
      p.refusedUntil = r.until;
      p.refusedReason = r.message;
    }
    return this.#keys.map((_, index) => {
      const until = this.#store.get(this.provider, index);
      const d = this.#disabled[index];
      const h: KeyHealth = {
        index,
        disabled: d !== undefined,
        inFlight: this.#inFlight[index]!,
        models: [...(pairs.get(index)?.values() ?? [])],
      };
      if (until > now) h.coolingUntil = until;
      if (d !== undefined) {
        h.disabledReason = d.reason;
        if (d.reprobeAt !== undefined) h.reprobeAt = d.reprobeAt;
      }
      return h;
    });
  }

  #lease(idx: number): KeyLease {
    let released = false;
    return {
      keyIndex: idx,
      apiKey: this.#keys[idx],
      release: () => {
        if (released) return;
        released = true;
        this.#inFlight[idx]!--;
        if (this.#waiters.size > 0) this.#wake();
      },
    };
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

const pairId = (keyIndex: number, model: string): string => `${keyIndex}|${model}`;
