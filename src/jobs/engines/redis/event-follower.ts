import type { Redis } from 'ioredis';
import { AbortError, StoreError } from '../../../errors.js';
import type { JobEvent } from '../../types.js';
import { entryToEvent, type RawEntry } from './event-log.js';

/**
 * Live job events for every subscriber of this process over ONE dedicated connection: a loop of
 * `XREAD BLOCK` on the streams someone follows. A new subscriber interrupts the blocked read with
 * `CLIENT UNBLOCK` (from the command connection) so it joins at once, not after the block times out.
 *
 * Each subscriber asks XREAD for the entries after the last seq it was given, so the stored gap and
 * the live tail come from the same read: no hole and no duplicate by construction.
 */

const BLOCK_MS = 5_000;
const COUNT = 500;

interface Follower {
  jobId: string;
  key: string;
  /** Last seq handed to this follower. */
  last: number;
  push(events: JobEvent[]): void;
  fail(err: Error): void;
}

export interface FollowOptions {
  signal?: AbortSignal;
  /** True when the event ends the stream (the job reached a final state). */
  isTerminal(event: JobEvent): boolean;
}

export class EventFollower {
  readonly #blocking: Redis;
  readonly #control: Redis;
  readonly #keyOf: (jobId: string) => string;
  readonly #followers = new Set<Follower>();
  #clientId?: number;
  #blocked = false;
  #closed = false;
  #wake?: () => void;
  #loop?: Promise<void>;
  #onError: (err: Error) => void;
  /** Settles when close() is called: a command stuck on a dead connection must not hold the loop. */
  #closedSignal: Promise<null>;
  #signalClosed!: () => void;

  /**
   * @param blocking a connection used for nothing else (it sits in XREAD BLOCK); this class owns it.
   * @param control the command connection, used for CLIENT UNBLOCK.
   */
  constructor(blocking: Redis, control: Redis, keyOf: (jobId: string) => string, onError: (err: Error) => void) {
    this.#blocking = blocking;
    this.#control = control;
    this.#keyOf = keyOf;
    this.#onError = onError;
    this.#closedSignal = new Promise<null>((resolve) => {
      this.#signalClosed = () => resolve(null);
    });
    // A reconnect gets a new client id; re-read it so CLIENT UNBLOCK keeps reaching the reader.
    blocking.on('ready', () => {
      this.#clientId = undefined;
    });
  }

  /** Follows one job's events after `afterSeq` until a terminal event, the signal, or close(). */
  follow(jobId: string, afterSeq: number, options: FollowOptions): AsyncIterable<JobEvent> {
    const self = this;
    return {
      [Symbol.asyncIterator](): AsyncIterator<JobEvent> {
        return self.#iterate(jobId, afterSeq, options);
      },
    };
  }

  async *#iterate(jobId: string, afterSeq: number, { signal, isTerminal }: FollowOptions): AsyncGenerator<JobEvent> {
    if (this.#closed) throw new StoreError('TL_ERR_STORE_UNAVAILABLE', 'the job event follower is closed');
    signal?.throwIfAborted();
    const buffer: JobEvent[] = [];
    let failure: Error | undefined;
    let notify: (() => void) | undefined;
    const follower: Follower = {
      jobId,
      key: this.#keyOf(jobId),
      last: afterSeq,
      push(events) {
        for (const e of events) {
          if (e.seq <= follower.last) continue;
          follower.last = e.seq;
          buffer.push(e);
        }
        notify?.();
      },
      fail(err) {
        failure ??= err;
        notify?.();
      },
    };
    const onAbort = () => follower.fail(new AbortError('the subscription was aborted', { cause: signal?.reason }));
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#add(follower);
    try {
      for (;;) {
        while (buffer.length > 0) {
          const event = buffer.shift()!;
          yield event;
          if (isTerminal(event)) return;
        }
        if (failure) throw failure;
        await new Promise<void>((resolve) => {
          notify = resolve;
        });
        notify = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#followers.delete(follower);
    }
  }

  #add(follower: Follower): void {
    this.#followers.add(follower);
    this.#loop ??= this.#run();
    if (this.#wake) {
      this.#wake();
    } else if (this.#blocked) {
      void this.#unblock();
    }
  }

  async #unblock(): Promise<void> {
    if (this.#clientId === undefined) return; // not blocked on a known id yet; the next round picks it up
    try {
      await this.#control.client('UNBLOCK', this.#clientId, 'TIMEOUT');
    } catch {
      // Deliberate: failing to interrupt only delays the new follower to the end of the current block.
    }
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      if (this.#followers.size === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      // One position per stream: the lowest of its followers'; each follower filters what it has seen.
      const positions = new Map<string, number>();
      for (const f of this.#followers) {
        const cur = positions.get(f.key);
        if (cur === undefined || f.last < cur) positions.set(f.key, f.last);
      }
      const keys = [...positions.keys()];
      const ids = keys.map((k) => `${positions.get(k)!}-0`);
      let reply: Array<[string, RawEntry[]]> | null;
      try {
        if (this.#clientId === undefined) {
          const id = this.#blocking.client('ID');
          id.catch(() => {});
          const got = await Promise.race([id, this.#closedSignal]);
          if (got === null) break;
          this.#clientId = Number(got);
        }
        this.#blocked = true;
        const read = this.#blocking.xread('COUNT', COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...keys, ...ids) as Promise<Array<
          [string, RawEntry[]]
        > | null>;
        read.catch(() => {});
        reply = await Promise.race([read, this.#closedSignal]);
        if (this.#closed) break;
      } catch (err) {
        this.#blocked = false;
        if (this.#closed) break;
        this.#onError(err as Error);
        // Wait for the connection to come back rather than spin; ioredis reconnects on its own.
        await Promise.race([new Promise((r) => setTimeout(r, 250).unref()), this.#closedSignal]);
        continue;
      } finally {
        this.#blocked = false;
      }
      if (!reply) continue;
      for (const [key, entries] of reply) {
        const targets = [...this.#followers].filter((f) => f.key === key);
        if (targets.length === 0) continue;
        const events = entries.map((e) => entryToEvent(targets[0]!.jobId, e));
        for (const f of targets) f.push(events);
      }
    }
  }

  /** Ends every follower with a StoreError and stops the loop. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#signalClosed();
    for (const f of this.#followers) f.fail(new StoreError('TL_ERR_STORE_UNAVAILABLE', 'the job store is closing'));
    this.#wake?.();
    this.#blocking.disconnect();
    await this.#loop?.catch(() => {});
  }
}
