export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * Open breakers shared by a fleet (Redis): a target opened in one process is skipped by all of
 * them until the same time. The half-open probe stays local.
 */
export interface BreakerBoard {
  /** Epoch ms until which the target is open somewhere; 0 when it is not. */
  openUntil(target: string): number;
  open(target: string, untilMs: number): void;
  close(target: string): void;
}

/**
 * A circuit breaker for one target (provider + model). It opens after `failures` consecutive
 * failures, stays open `resetMs`, then lets exactly one probe through (half-open): the probe's
 * success closes it (and resets the wait), its failure opens it again for twice the last wait, up
 * to `maxResetMs`, so a target that stays down is probed less and less often while one that
 * recovers is back within one wait.
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #baseResetMs: number;
  readonly #maxResetMs: number;
  #resetMs: number;
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;
  /** Called on every state change (metrics, logs). */
  onChange?: (state: BreakerState) => void;

  constructor(failures: number, resetMs: number, maxResetMs = resetMs) {
    this.#threshold = failures;
    this.#baseResetMs = resetMs;
    this.#maxResetMs = Math.max(resetMs, maxResetMs);
    this.#resetMs = resetMs;
  }

  /** The current wait between opening and the probe, in ms. */
  get resetMs(): number {
    return this.#resetMs;
  }

  get state(): BreakerState {
    return this.#state;
  }

  get failures(): number {
    return this.#failures;
  }

  /** Epoch ms when an open breaker lets its probe through; 0 when not open. */
  get retryAt(): number {
    return this.#state === 'open' ? this.#openedAt + this.#resetMs : 0;
  }

  /** Whether a call may go now (does not take the half-open probe; see `acquire`). */
  canPass(now = Date.now()): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') return now >= this.#openedAt + this.#resetMs;
    return !this.#probing;
  }

  /** Takes the right to call. In half-open state only one caller gets it until it reports back. */
  acquire(now = Date.now()): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (now < this.#openedAt + this.#resetMs) return false;
      this.#set('half-open');
    }
    if (this.#probing) return false;
    this.#probing = true;
    return true;
  }

  success(): void {
    this.#failures = 0;
    this.#probing = false;
    this.#resetMs = this.#baseResetMs;
    if (this.#state !== 'closed') this.#set('closed');
  }

  failure(now = Date.now()): void {
    this.#probing = false;
    this.#failures++;
    if (this.#state === 'half-open') {
      // The probe failed: the target is still down; wait longer before the next probe.
      this.#resetMs = Math.min(this.#maxResetMs, this.#resetMs * 2);
      this.#openedAt = now;
      this.#set('open');
    } else if (this.#state === 'closed' && this.#failures >= this.#threshold) {
      this.#openedAt = now;
      this.#set('open');
    }
  }

  /** The call ended without saying anything about the target (aborted, key problem): free the probe. */
  release(): void {
    this.#probing = false;
  }

  #set(state: BreakerState): void {
    this.#state = state;
    this.onChange?.(state);
  }
}
