import type { CooldownStore } from './cooldown-store.js';

/** A key handed out for one call. `release()` must be called once the call settles. */
export interface KeyLease {
  keyIndex: number;
  apiKey: string | undefined;
  release(): void;
}

/** Why no key could be handed out. */
export type NoKey =
  | { reason: 'cooling'; retryAt: number }
  | { reason: 'busy' }
  | { reason: 'disabled' };

export interface KeyHealth {
  index: number;
  /** Epoch ms until which the key cools; absent when it does not. */
  coolingUntil?: number;
  disabled: boolean;
  disabledReason?: string;
  inFlight: number;
}

/**
 * The keys of one provider, rotated round-robin among the healthy ones. A key cools after a 429
 * (for the provider's Retry-After), is disabled after a 401/403, and may carry at most
 * `concurrency` calls at once. A provider without keys (a local Ollama) has one keyless slot.
 */
export class KeyPool {
  readonly provider: string;
  readonly size: number;
  readonly #keys: Array<string | undefined>;
  readonly #store: CooldownStore;
  readonly #concurrency: number;
  readonly #inFlight: number[];
  readonly #disabled: Array<string | undefined>;
  #next = 0;
  #waiters = new Set<() => void>();

  constructor(provider: string, keys: string[], store: CooldownStore, concurrency = Infinity) {
    this.provider = provider;
    this.#keys = keys.length > 0 ? [...keys] : [undefined];
    this.size = this.#keys.length;
    this.#store = store;
    this.#concurrency = concurrency;
    this.#inFlight = new Array(this.size).fill(0);
    this.#disabled = new Array(this.size).fill(undefined);
  }

  /** Takes the next healthy key, or says why none is free. */
  acquire(now = Date.now()): KeyLease | NoKey {
    let soonest = Infinity;
    let busy = false;
    for (let i = 0; i < this.size; i++) {
      const idx = (this.#next + i) % this.size;
      if (this.#disabled[idx] !== undefined) continue;
      const until = this.#store.get(this.provider, idx);
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
    return { reason: 'disabled' };
  }

  /** Cools a key until `untilMs` (epoch ms); a shorter cooldown never replaces a longer one. */
  cool(keyIndex: number, untilMs: number): void {
    this.#store.extend(this.provider, keyIndex, untilMs);
  }

  coolingUntil(keyIndex: number): number {
    return this.#store.get(this.provider, keyIndex);
  }

  /** Takes a key out of rotation (the provider refused it). Returns false if it already was. */
  disable(keyIndex: number, reason: string): boolean {
    if (this.#disabled[keyIndex] !== undefined) return false;
    this.#disabled[keyIndex] = reason;
    this.#wake();
    return true;
  }

  isDisabled(keyIndex: number): boolean {
    return this.#disabled[keyIndex] !== undefined;
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
    return this.#keys.map((_, index) => {
      const until = this.#store.get(this.provider, index);
      const h: KeyHealth = { index, disabled: this.#disabled[index] !== undefined, inFlight: this.#inFlight[index]! };
      if (until > now) h.coolingUntil = until;
      if (this.#disabled[index] !== undefined) h.disabledReason = this.#disabled[index];
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
