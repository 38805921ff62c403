import { AbortError } from '../errors.js';
import { abortReason } from '../util/async.js';

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/**
 * Identical requests in flight share one upstream call. Each caller may leave on its own signal;
 * the shared call is aborted only when the last caller has left.
 */
export class SingleFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();

  get size(): number {
    return this.#flights.size;
  }

  /** Runs `fn` for `key` unless a call for the same key is in flight, then joins it. */
  run(key: string, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): { promise: Promise<T>; joined: boolean } {
    let flight = this.#flights.get(key);
    const joined = flight !== undefined;
    if (!flight) {
      const controller = new AbortController();
      const f: Flight<T> = { controller, waiters: 0, promise: undefined as unknown as Promise<T> };
      f.promise = fn(controller.signal).finally(() => {
        if (this.#flights.get(key) === f) this.#flights.delete(key);
      });
      // The shared promise may reject after every caller left; that rejection is theirs, not ours.
      f.promise.catch(() => {});
      this.#flights.set(key, f);
      flight = f;
    }
    flight.waiters++;
    return { promise: this.#wait(flight, signal), joined };
  }

  /** Aborts every call in flight (runtime closing). */
  abortAll(reason: unknown): void {
    for (const f of this.#flights.values()) f.controller.abort(reason);
  }

  #wait(flight: Flight<T>, signal: AbortSignal | undefined): Promise<T> {
    if (!signal) return flight.promise.finally(() => void flight.waiters--);
    if (signal.aborted) {
      this.#leave(flight);
      return Promise.reject(abortReason(signal));
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.#leave(flight);
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          flight.waiters--;
          resolve(v);
        },
        (e) => {
          signal.removeEventListener('abort', onAbort);
          flight.waiters--;
          reject(e);
        },
      );
    });
  }

  #leave(flight: Flight<T>): void {
    if (--flight.waiters <= 0) flight.controller.abort(new AbortError('every caller of this request went away'));
  }
}
