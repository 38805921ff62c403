import type { CooldownStore } from '../cooldown-store.js';
import type { RedisTimers } from './redis-timers.js';

/**
 * Key cooldowns shared by every process on one Redis: a 429 with Retry-After seen by one process
 * cools that key for all of them. Reads come from the local mirror (synchronous, as the key pool
 * needs); writes update the mirror at once and reach Redis and the other processes in the background.
 */
export class RedisCooldownStore implements CooldownStore {
  readonly #timers: RedisTimers;
  readonly #onError: (err: Error) => void;

  constructor(timers: RedisTimers, onError: (err: Error) => void = () => {}) {
    this.#timers = timers;
    this.#onError = onError;
  }

  get(provider: string, keyIndex: number): number {
    return this.#timers.get(`${provider}:${keyIndex}`) ?? 0;
  }

  extend(provider: string, keyIndex: number, untilMs: number): void {
    // The mirror is updated synchronously inside extend(); only the fleet-wide write is awaited here.
    this.#timers.extend(`${provider}:${keyIndex}`, untilMs).catch((err: Error) => this.#onError(err));
  }
}
