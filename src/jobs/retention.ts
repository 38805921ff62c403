import { toTasklaneError, type TasklaneError } from '../errors.js';
import type { JobEngine } from './engine.js';

export interface RetentionOptions {
  /** Keep succeeded jobs this long after they end, in ms; 0 = forever. */
  succeededMs: number;
  /** Keep dead and cancelled jobs this long after they end, in ms; 0 = forever. */
  failedMs: number;
  /** How often to look, in ms. */
  everyMs: number;
}

/** Jobs deleted per engine call, and calls per round (the rest waits for the next round). */
const BATCH = 100;
const MAX_BATCHES = 50;

/**
 * Deletes ended jobs once they are older than the configured ages, so a server left running does
 * not grow its store without end. Every process may run it: each delete is atomic and repeatable.
 */
export class Retention {
  readonly #engine: JobEngine;
  readonly #opts: RetentionOptions;
  readonly #onError: (err: TasklaneError) => void;
  #timer?: NodeJS.Timeout;
  #running?: Promise<number>;
  #stopped = false;

  constructor(engine: JobEngine, opts: RetentionOptions, onError: (err: TasklaneError) => void) {
    this.#engine = engine;
    this.#opts = opts;
    this.#onError = onError;
  }

  get enabled(): boolean {
    return this.#opts.succeededMs > 0 || this.#opts.failedMs > 0;
  }

  start(): void {
    if (!this.enabled || this.#timer) return;
    this.#timer = setInterval(() => void this.runOnce().catch((err) => this.#onError(toTasklaneError(err))), this.#opts.everyMs);
    void this.runOnce().catch((err) => this.#onError(toTasklaneError(err)));
  }

  /** One round: deletes what is due (up to MAX_BATCHES × BATCH jobs); returns how many went. */
  runOnce(now = Date.now()): Promise<number> {
    this.#running ??= (async () => {
      const cut = {
        succeededBefore: this.#opts.succeededMs > 0 ? now - this.#opts.succeededMs : 0,
        failedBefore: this.#opts.failedMs > 0 ? now - this.#opts.failedMs : 0,
      };
      let total = 0;
      for (let i = 0; i < MAX_BATCHES && !this.#stopped; i++) {
        const n = await this.#engine.prune(cut, BATCH);
        total += n;
        if (n < BATCH) break;
      }
      return total;
    })().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Stops the timer and waits for a round in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }
}
