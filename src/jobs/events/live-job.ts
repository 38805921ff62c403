/**
 * The event side of one attempt running in this process: seqs assigned on the main thread in emit
 * order, fanned out through the hub at once, stored in batches (a short timer or a full batch, and
 * always before the job's final state is committed). See event-hub.ts for the no-hole rule.
 */
import { toTasklaneError, type TasklaneError } from '../../errors.js';
import type { JobEventType, JobEvent, JobRecord } from '../types.js';
import type { JobEngine } from '../engine.js';

export interface LiveJobOptions {
  engine: JobEngine;
  /** Longest an event waits before it is stored, in ms. */
  flushMs: number;
  /** Events that trigger a store write at once. */
  flushSize: number;
  /** A background step failed (a store write that will be retried, a poll). */
  onError(err: TasklaneError): void;
  /**
   * Most events of one attempt waiting to be stored (a store fault, or a task that emits faster
   * than the store writes). Past it, progress keeps only its latest value and log lines are
   * counted, not kept; once there is room the latest progress goes out after a
   * `progress.coalesced` event `{ count }` (the values it replaced), and one log line says how
   * many lines were not kept. Default 10,000.
   */
  maxUnstored?: number;
}

/** What a live job needs from its hub (EventHub implements it; narrow, so live-job.ts does not import the hub). */
export interface LiveJobHost {
  readonly options: LiveJobOptions;
  deliver(event: JobEvent): void;
}

/** The event side of one attempt running in this process. */
export class LiveJob {
  readonly jobId: string;
  readonly token: string;
  readonly attempt: number;
  /** Events assigned a seq and not yet stored, in seq order. */
  unstored: JobEvent[] = [];
  #nextSeq: number;
  #queuedForFlush = 0;
  #flushing?: Promise<void>;
  #timer?: NodeJS.Timeout;
  #coalesceMs: number;
  #held?: { data: unknown };
  #holdTimer?: NodeJS.Timeout;
  #lost?: TasklaneError;
  /** Over maxUnstored: the latest progress (and how many progress values it stands for) and the number of log lines not kept. */
  #parked?: { data: unknown; count: number };
  #droppedLogs = 0;
  readonly #hub: LiveJobHost;
  readonly #onLost: (err: TasklaneError) => void;

  constructor(hub: LiveJobHost, job: JobRecord, token: string, coalesceMs: number, onLost: (err: TasklaneError) => void) {
    this.#hub = hub;
    this.jobId = job.id;
    this.token = token;
    this.attempt = job.attempt;
    this.#nextSeq = job.lastSeq + 1;
    this.#coalesceMs = coalesceMs;
    this.#onLost = onLost;
  }

  /** Seq of the last event assigned here. */
  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** Progress, coalesced when the task asked for it: the first goes out, later ones within the window collapse to the latest. */
  progress(data: unknown): void {
    if (this.#coalesceMs <= 0) return this.emit('progress', data);
    if (this.#holdTimer) {
      this.#held = { data };
      return;
    }
    this.emit('progress', data);
    this.#holdTimer = setTimeout(() => this.#releaseHeld(), this.#coalesceMs);
  }

  /** Assigns the next seq, fans the event out and schedules its storage. Held progress goes first. */
  emit(type: JobEventType, data: unknown): void {
    if (type !== 'progress') this.#releaseHeld();
    if (this.#lost) return;
    if ((type === 'progress' || type === 'log') && this.unstored.length >= this.#cap) {
      if (type === 'progress')
        this.#parked = { data: data === undefined ? null : JSON.parse(JSON.stringify(data)), count: (this.#parked?.count ?? 0) + 1 };
      else this.#droppedLogs++;
      return;
    }
    // Live subscribers get what the store will give back (JSON), never an object the task may still mutate.
    const stored = data === undefined ? null : JSON.parse(JSON.stringify(data));
    const event: JobEvent = { jobId: this.jobId, seq: this.#nextSeq++, type, data: stored, at: Date.now(), attempt: this.attempt };
    this.unstored.push(event);
    this.#hub.deliver(event);
    if (this.unstored.length - this.#queuedForFlush >= this.#hub.options.flushSize) this.#backgroundFlush();
    else this.#timer ??= setTimeout(() => this.#backgroundFlush(), this.#hub.options.flushMs);
  }

  /** A flush nobody awaits: a lost lease is handled by onLost; anything else is reported, and the events stay queued for the next flush. */
  #backgroundFlush(): void {
    this.flush().catch((err: TasklaneError) => {
      if (!this.#lost) this.#hub.options.onError(err);
    });
  }

  /** Stores every event emitted so far. Rejects with TL_ERR_JOB_LEASE_LOST if the attempt lost its lease. */
  async flush(): Promise<void> {
    this.#releaseHeld();
    for (;;) {
      if (this.#lost) throw this.#lost;
      if (this.#flushing) {
        await this.#flushing.catch(() => {});
        continue;
      }
      if (this.unstored.length === 0) return;
      this.#flushing = this.#write();
      try {
        await this.#flushing;
      } finally {
        this.#flushing = undefined;
      }
    }
  }

  async #write(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.unstored.slice(0, 1000);
    this.#queuedForFlush = batch.length;
    try {
      await this.#hub.options.engine.appendEvents(this.jobId, this.token, batch);
      // Only now do they leave the waiting list (see the file comment).
      this.unstored.splice(0, batch.length);
      this.#unpark();
    } catch (err) {
      const e = toTasklaneError(err);
      if (e.code === 'TL_ERR_JOB_LEASE_LOST' || e.code === 'TL_ERR_JOB_NOT_FOUND') {
        this.#lost = e;
        this.unstored = [];
        this.#onLost(e);
      }
      throw e;
    } finally {
      this.#queuedForFlush = 0;
    }
  }

  /**
   * What was held back while over maxUnstored goes out now that there is room: never a silent
   * hole. Progress values that were replaced by a later one are announced by a
   * `progress.coalesced` event `{ count }` right before the latest value; log lines not kept by a
   * log line that says how many.
   */
  #unpark(): void {
    const dropped = this.#droppedLogs;
    const parked = this.#parked;
    this.#droppedLogs = 0;
    this.#parked = undefined;
    if (dropped > 0) {
      this.emit('log', {
        msg: `${dropped} log lines were not kept: more than ${this.#cap} events of this attempt were waiting to be stored`,
        data: { dropped },
      });
    }
    if (parked) {
      if (parked.count > 1) this.emit('progress.coalesced', { count: parked.count - 1 });
      this.emit('progress', parked.data);
    }
  }

  get #cap(): number {
    return this.#hub.options.maxUnstored ?? 10_000;
  }

  /** Stops timers (the attempt is over). */
  dispose(): void {
    clearTimeout(this.#timer);
    clearTimeout(this.#holdTimer);
    this.#timer = this.#holdTimer = undefined;
    this.#held = undefined;
  }

  #releaseHeld(): void {
    if (!this.#holdTimer) return;
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    const held = this.#held;
    this.#held = undefined;
    if (held) {
      this.emit('progress', held.data);
      // Keep the window going: progress right after this one is coalesced too.
      this.#holdTimer = setTimeout(() => this.#releaseHeld(), this.#coalesceMs);
    }
  }
}
