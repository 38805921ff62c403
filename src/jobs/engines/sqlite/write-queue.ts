/**
 * Group commit for the SQLite engine: writes asked for in the same turn of the event loop share
 * one IMMEDIATE transaction (a commit costs far more than the statements in it). Batches are
 * capped in count and time so one never holds the loop for long. While the store refuses writes
 * (disk full, read-only), the fault is kept for readiness and a one-row probe notices the return.
 */
import type Database from 'better-sqlite3';
import { type StoreError, TasklaneError } from '../../../errors.js';
import { storeClosed } from '../common.js';
import { storeError } from './faults.js';

interface PendingWrite {
  fn: () => unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** Most writes committed together, and the time one batch may take (ms). */
const WRITE_BATCH = 256;
const WRITE_BUDGET_MS = 4;
/** While the store refuses writes, a one-row write is tried this often (ms) to notice it is back. */
const PROBE_MS = 500;

export class WriteQueue {
  readonly #path: string;
  /** One IMMEDIATE transaction wrapper, reused: it runs the function it is given. */
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;
  readonly #probe: () => void;
  #writes: PendingWrite[] = [];
  #scheduled = false;
  #closed = false;
  /** The last write failure (disk full, read-only...), until a write succeeds again. */
  #fault?: StoreError;
  #probeTimer?: NodeJS.Timeout;

  /** `probe` is the one-row write tried while the store refuses writes. */
  constructor(db: Database.Database, path: string, probe: () => void) {
    this.#path = path;
    this.#transaction = db.transaction((fn: () => unknown) => fn());
    this.#probe = probe;
  }

  get fault(): StoreError | undefined {
    return this.#fault;
  }

  /**
   * Runs `fn` in the next group transaction. Rule for every write function: refuse (throw a
   * TasklaneError) before changing anything, since its batch commits around it.
   */
  write<T>(fn: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(storeClosed('sqlite'));
    return new Promise<T>((resolve, reject) => {
      this.#writes.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Commits every write already asked for (close: they are committed, not dropped), then refuses more. */
  close(): void {
    while (this.#writes.length > 0) this.#commit();
    this.#closed = true;
    clearTimeout(this.#probeTimer);
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#commit());
  }

  /** Puts writes that did not fit in a batch back in front, for the next turn. */
  #requeue(rest: PendingWrite[]): void {
    if (rest.length === 0) return;
    this.#writes = rest.concat(this.#writes);
    this.#schedule();
  }

  #commit(): void {
    this.#scheduled = false;
    const batch = this.#writes;
    this.#writes = [];
    if (this.#closed) {
      for (const w of batch) w.reject(storeClosed('sqlite'));
      return;
    }
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    let tried = 0;
    try {
      this.#transaction.immediate(() => {
        const until = performance.now() + WRITE_BUDGET_MS;
        for (const w of batch) {
          // Out of time: the rest waits for the next turn, so the loop is never held long.
          if (tried > 0 && (tried >= WRITE_BATCH || performance.now() > until)) break;
          tried++;
          try {
            outcomes.push({ ok: true, value: w.fn() });
          } catch (error) {
            // Our refusals (lease lost, wrong state) come before any change, so the rest of the
            // batch stands. Anything else (SQLite itself failing) rolls the whole batch back.
            if (!TasklaneError.isInstance(error)) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (err) {
      const e = storeError(err, this.#path, 'job store write');
      this.#setFault(e);
      // Nothing tried means the transaction could not even begin (the file is locked or gone):
      // every write fails rather than spin on it.
      for (const w of tried === 0 ? batch : batch.slice(0, tried)) w.reject(e);
      if (tried > 0) this.#requeue(batch.slice(tried));
      return;
    }
    this.#fault = undefined;
    this.#requeue(batch.slice(outcomes.length));
    outcomes.forEach((o, i) => {
      const w = batch[i]!;
      if (o.ok) w.resolve(o.value);
      else w.reject(TasklaneError.isInstance(o.error) ? o.error : storeError(o.error, this.#path, 'job store write'));
    });
  }

  /**
   * Notes a write failure. Until a write succeeds, readiness reports it and a one-row write is
   * tried every PROBE_MS, so the store is seen to be back even when nothing else writes.
   */
  #setFault(e: StoreError): void {
    this.#fault = e;
    if (this.#probeTimer) return;
    const probe = () => {
      this.#probeTimer = undefined;
      if (this.#closed || !this.#fault) return;
      try {
        this.#transaction.immediate(() => this.#probe());
        this.#fault = undefined;
      } catch (err) {
        this.#fault = storeError(err, this.#path, 'job store write');
        this.#probeTimer = setTimeout(probe, PROBE_MS).unref();
      }
    };
    this.#probeTimer = setTimeout(probe, PROBE_MS).unref();
  }
}
