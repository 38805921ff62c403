/**
 * The runtime's list of owners to close. Each resource registers one closer when it opens;
 * `closeAll` runs them in reverse order, each bounded by what is left of one deadline, and
 * resolves even if a closer hangs or throws (the report says which).
 */

/** A closer gets how much of the deadline is left (in ms), so that it can pace its own shutdown. */
import { withDeadline } from '../util/async.js';

export type Closer = (info: { remainingMs: number }) => unknown | Promise<unknown>;

export interface CloseReport {
  /** Total time taken, in ms. */
  ms: number;
  /** Closers that threw, with their error message. */
  failed: Array<{ name: string; error: string }>;
  /** Closers still running when the deadline passed. */
  timedOut: string[];
}

export class Closers {
  #entries: Array<{ name: string; close: Closer }> = [];

  /** Registers a closer; returns a function that removes it (for resources closed early). */
  add(name: string, close: Closer): () => void {
    const entry = { name, close };
    this.#entries.push(entry);
    return () => {
      const i = this.#entries.indexOf(entry);
      if (i >= 0) this.#entries.splice(i, 1);
    };
  }

  get size(): number {
    return this.#entries.length;
  }

  async closeAll(deadlineMs: number): Promise<CloseReport> {
    const start = performance.now();
    const report: CloseReport = { ms: 0, failed: [], timedOut: [] };
    const entries = this.#entries.splice(0).reverse();
    for (const entry of entries) {
      const left = deadlineMs - (performance.now() - start);
      if (left <= 0) {
        report.timedOut.push(entry.name);
        // Out of time: still tell the owner to close at once (not awaited), so that threads and
        // sockets behind a closer that came after a hung one are not left open.
        void Promise.resolve()
          .then(() => entry.close({ remainingMs: 0 }))
          .catch(() => undefined);
        continue;
      }
      const outcome = await runBounded(() => entry.close({ remainingMs: left }), left);
      if (outcome === 'timeout') report.timedOut.push(entry.name);
      else if (outcome !== 'ok') report.failed.push({ name: entry.name, error: outcome.error });
    }
    report.ms = performance.now() - start;
    return report;
  }
}

const TIMED_OUT = Symbol('timed out');

async function runBounded(close: () => unknown, ms: number): Promise<'ok' | 'timeout' | { error: string }> {
  try {
    // Unref'd timer (withDeadline's default): a hung closer must not keep the process alive after close() returned.
    await withDeadline(Promise.resolve().then(close), ms, () => TIMED_OUT);
    return 'ok';
  } catch (err) {
    if (err === TIMED_OUT) return 'timeout';
    return { error: err instanceof Error ? err.message : String(err) };
  }
}
