import { TasklaneError } from '../errors.js';
import type { Principal } from './auth.js';

/**
 * Counts the long-lived streams (chat SSE, job event SSE) each client key holds open, so one
 * key cannot pin every socket and upstream call of the server. Over the limit: 429.
 */
export class StreamSlots {
  #open = new Map<number, number>();
  readonly #max: number;

  constructor(maxPerKey: number) {
    this.#max = maxPerKey;
  }

  /** Takes a slot or throws TL_ERR_RATE_LIMITED; returns the release function (idempotent). */
  acquire(principal: Principal): () => void {
    const key = principal.keyIndex;
    const n = this.#open.get(key) ?? 0;
    if (n >= this.#max) {
      throw new TasklaneError('TL_ERR_RATE_LIMITED', `this key already holds ${n} open streams (server.maxStreamsPerKey); close one first`, {
        details: { retryAfterMs: 1_000, limit: this.#max },
      });
    }
    this.#open.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left <= 0) this.#open.delete(key);
      else this.#open.set(key, left);
    };
  }
}
