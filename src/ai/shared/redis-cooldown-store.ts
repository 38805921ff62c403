import { cooldownId, type CooldownStore } from '../cooldown-store.js';
import type { RedisTimers } from './redis-timers.js';

/**
 * Cooldowns shared by every process on one Redis: a 429 with Retry-After seen by one process cools
 * that (key, model) pair (or key) for all of them. Reads come from the local mirror (synchronous,
 * as the key pool needs); writes update the mirror at once and reach Redis and the other processes
 * in the background.
 */
export class RedisCooldownStore implements CooldownStore {
  readonly #timers: RedisTimers;
  readonly #onError: (err: Error) => void;

  constructor(timers: RedisTimers, onError: (err: Error) => void = () => {}) {
    this.#timers = timers;
    this.#onError = onError;
  }

  set onEvict(fn: (() => void) | undefined) {
    this.#timers.onEvict = fn;
  }

  get onEvict(): (() => void) | undefined {
    return this.#timers.onEvict;
  }

  entries(): Iterable<[string, number]> {
    return this.#timers.entries();
  }

  get(provider: string, keyIndex: number, model?: string): number {
    return this.#timers.get(cooldownId(provider, keyIndex, model)) ?? 0;
  }

  extend(provider: string, keyIndex: number, untilMs: number, model?: string): void {
    // The mirror is updated synchronously inside extend(); only the fleet-wide write is awaited here.
    this.#timers.extend(cooldownId(provider, keyIndex, model), untilMs).catch((err: Error) => this.#onError(err));
  }
}
