import type { RedisTimers } from './redis-timers.js';

/**
 * Open circuit breakers shared by every process on one Redis. When a target's breaker opens in
 * one process, the others see it open until the same time and send nothing there either; the
 * half-open probe stays local (whichever process reaches the deadline first probes).
 */
export class RedisBreakerBoard {
  readonly #timers: RedisTimers;
  readonly #onError: (err: Error) => void;

  constructor(timers: RedisTimers, onError: (err: Error) => void = () => {}) {
    this.#timers = timers;
    this.#onError = onError;
  }

  /** Epoch ms until which the target is open somewhere in the fleet; 0 when it is not. */
  openUntil(target: string): number {
    return this.#timers.get(target) ?? 0;
  }

  /** Marks the target open for the fleet until `untilMs`. */
  open(target: string, untilMs: number): void {
    this.#timers.extend(target, untilMs).catch((err: Error) => this.#onError(err));
  }

  /** The target answered again: closes it for the fleet. */
  close(target: string): void {
    this.#timers.clear(target).catch((err: Error) => this.#onError(err));
  }
}
