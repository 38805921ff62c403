/**
 * Wakes parked jobs on time: a poll of the engine's due scan (every process that runs a worker,
 * so a job parked by a process that died still wakes), and for jobs parked here a timer at their
 * own wake time, so a short sleep does not wait for the next poll.
 */
import type { JobEngine } from '../engine.js';
import type { JobRecord } from '../types.js';

/** Timers further out than this are left to the poll (a setTimeout beyond 2^31 ms misfires). */
const LOCAL_MAX_MS = 6 * 3_600_000;

export class WakeTimer {
  readonly #engine: JobEngine;
  readonly #pollMs: number;
  readonly #woke: () => void;
  readonly #onError: (err: unknown) => void;
  readonly #timers = new Set<NodeJS.Timeout>();
  #poll?: NodeJS.Timeout;
  #running = false;
  #again = false;
  #stopped = true;

  constructor(engine: JobEngine, pollMs: number, woke: () => void, onError: (err: unknown) => void) {
    this.#engine = engine;
    this.#pollMs = pollMs;
    this.#woke = woke;
    this.#onError = onError;
  }

  start(): void {
    if (!this.#engine.wakeDue || !this.#stopped) return;
    this.#stopped = false;
    this.#poll = setInterval(() => this.scan(), this.#pollMs);
    this.#poll.unref();
    this.scan();
  }

  /** A job parked here: a timer for its wake time; a job that went on at once: look for work now. */
  parked(record: JobRecord): void {
    if (record.state === 'queued') return this.#woke();
    if (this.#stopped || record.state !== 'waiting') return;
    const ms = record.runAt - Date.now();
    if (ms > LOCAL_MAX_MS) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.scan();
    }, Math.max(0, ms) + 1);
    timer.unref();
    this.#timers.add(timer);
  }

  /** Runs the due scan now (one at a time); tells the worker loop when something woke. */
  scan(): void {
    if (this.#stopped || !this.#engine.wakeDue) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#again = false;
    this.#engine
      .wakeDue()
      .then((n) => {
        if (n > 0) this.#woke();
      }, this.#onError)
      .finally(() => {
        this.#running = false;
        if (this.#again) this.scan();
      });
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#poll);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}
