import { rateLimited } from '../errors.js';
import type { Principal } from './auth.js';

/**
 * Counts what each client key holds open (chat and job-event SSE streams, WebSockets, WebSocket
 * subscriptions), so one key cannot pin every socket and upstream call of the server; optionally
 * also a total over all keys. Over a limit: 429 TL_ERR_RATE_LIMITED naming the setting.
 */
export class StreamSlots {
  #open = new Map<number, number>();
  #total = 0;
  readonly #max: number;
  readonly #setting: string;
  readonly #noun: string;
  readonly #totalLimit?: { max: number; setting: string };

  constructor(maxPerKey: number, options: { setting?: string; noun?: string; total?: { max: number; setting: string } } = {}) {
    this.#max = maxPerKey;
    this.#setting = options.setting ?? 'server.maxStreamsPerKey';
    this.#noun = options.noun ?? 'open streams';
    this.#totalLimit = options.total;
  }

  /** How many one key holds. */
  held(principal: Principal): number {
    return this.#open.get(principal.keyIndex) ?? 0;
  }

  get total(): number {
    return this.#total;
  }

  /** Takes a slot or throws TL_ERR_RATE_LIMITED; returns the release function (idempotent). */
  acquire(principal: Principal): () => void {
    const key = principal.keyIndex;
    const n = this.#open.get(key) ?? 0;
    if (n >= this.#max) {
      throw rateLimited(`this key already holds ${n} ${this.#noun} (${this.#setting}); close one first`, 1_000, { limit: this.#max });
    }
    if (this.#totalLimit && this.#total >= this.#totalLimit.max) {
      throw rateLimited(`the server already holds ${this.#total} ${this.#noun} (${this.#totalLimit.setting}); try again later`, 1_000, {
        limit: this.#totalLimit.max,
      });
    }
    this.#open.set(key, n + 1);
    this.#total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left <= 0) this.#open.delete(key);
      else this.#open.set(key, left);
    };
  }
}
