/**
 * Job event streams. Events of jobs running here get their seq on the main thread in emit order,
 * reach local subscribers at once and are stored in batches (a short timer or a full batch, and
 * always before the job's final state is committed). Subscribers of jobs running elsewhere (or
 * not running) read the store on a timer.
 *
 * No hole, no duplicate: a subscriber takes an event only if its seq is the next one it expects.
 * Anything else (it joined late, fell behind, the job moved between processes) marks it for a
 * refill: the events still waiting to be stored, snapshotted before the store is read, plus the
 * store from its cursor. An event is always in one of the two, since it leaves the waiting list
 * only once stored.
 */
import { ClosedError, NotFoundError, TasklaneError, toTasklaneError } from '../errors.js';
import type { JobEngine } from './engine.js';
import { FINAL_STATES, TERMINAL_EVENTS, type JobEvent, type JobEventType, type JobRecord } from './types.js';

export interface EventHubOptions {
  engine: JobEngine;
  /** Longest an event waits before it is stored, in ms. */
  flushMs: number;
  /** Events that trigger a store write at once. */
  flushSize: number;
  /** How often subscribers of jobs not running here read the store, in ms. */
  pollMs: number;
  /** Most events buffered per subscriber; past it the subscriber reads the store when it catches up. */
  maxBuffer: number;
  /** A background step failed (a store write that will be retried, a poll). */
  onError(err: TasklaneError): void;
  /**
   * Most events of one attempt kept in memory while the store refuses writes. Past it, progress
   * keeps only its latest value and log lines are counted, not kept; both go out once the store
   * takes writes again. Default 10,000.
   */
  maxUnstored?: number;
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
  /** Over maxUnstored: the latest progress and the number of log lines not kept. */
  #parked?: { data: unknown };
  #droppedLogs = 0;
  readonly #hub: EventHub;
  readonly #onLost: (err: TasklaneError) => void;

  constructor(hub: EventHub, job: JobRecord, token: string, coalesceMs: number, onLost: (err: TasklaneError) => void) {
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
    if ((type === 'progress' || type === 'log') && this.unstored.length >= (this.#hub.options.maxUnstored ?? 10_000)) {
      if (type === 'progress') this.#parked = { data: data === undefined ? null : JSON.parse(JSON.stringify(data)) };
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

  /** What was held back while over maxUnstored goes out now that there is room. */
  #unpark(): void {
    const dropped = this.#droppedLogs;
    const parked = this.#parked;
    this.#droppedLogs = 0;
    this.#parked = undefined;
    if (dropped > 0) this.emit('log', { msg: `${dropped} log lines were dropped while the job store was refusing writes` });
    if (parked) this.emit('progress', parked.data);
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

class Subscriber implements AsyncIterator<JobEvent> {
  cursor: number;
  needsFill = true;
  filling = false;
  ended = false;
  error?: TasklaneError;
  #buf: JobEvent[] = [];
  #head = 0;
  #wake?: () => void;
  readonly #max: number;
  readonly #onEnd: () => void;

  constructor(readonly jobId: string, fromSeq: number, max: number, onEnd: () => void) {
    this.cursor = fromSeq;
    this.#max = max;
    this.#onEnd = onEnd;
  }

  get buffered(): number {
    return this.#buf.length - this.#head;
  }

  /** Takes the event if it is the next one; otherwise notes that a refill is needed. */
  offer(event: JobEvent): void {
    if (this.ended || event.seq <= this.cursor) return;
    if (event.seq !== this.cursor + 1 || this.buffered >= this.#max) {
      this.needsFill = true;
      return;
    }
    this.cursor = event.seq;
    this.#buf.push(event);
    if (TERMINAL_EVENTS.has(event.type)) this.end();
    this.#signal();
  }

  /** Stops a store follow feeding this subscriber (engines with follow()). */
  stopFollow?: () => void;

  end(error?: TasklaneError): void {
    if (this.ended) return;
    this.ended = true;
    this.error ??= error;
    this.stopFollow?.();
    this.#onEnd();
    this.#signal();
  }

  async next(): Promise<IteratorResult<JobEvent>> {
    for (;;) {
      if (this.#head < this.#buf.length) {
        const value = this.#buf[this.#head++]!;
        if (this.#head > 1024 && this.#head * 2 > this.#buf.length) {
          this.#buf = this.#buf.slice(this.#head);
          this.#head = 0;
        }
        return { value, done: false };
      }
      if (this.error) {
        const err = this.error;
        this.error = undefined;
        throw err;
      }
      if (this.ended) return { value: undefined, done: true };
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<JobEvent>> {
    this.end();
    return { value: undefined, done: true };
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

export class EventHub {
  readonly options: EventHubOptions;
  readonly #live = new Map<string, LiveJob>();
  readonly #subs = new Map<string, Set<Subscriber>>();
  #pollTimer?: NodeJS.Timeout;
  #closed = false;

  constructor(options: EventHubOptions) {
    this.options = options;
  }

  /** Starts the live stream of an attempt just claimed here; `started` (its seq is the record's lastSeq) goes out at once. */
  startLive(job: JobRecord, token: string, coalesceMs: number, onLost: (err: TasklaneError) => void): LiveJob {
    const live = new LiveJob(this, job, token, coalesceMs, onLost);
    this.#live.set(job.id, live);
    this.deliver({ jobId: job.id, seq: job.lastSeq, type: 'started', data: { attempt: job.attempt, workerId: job.workerId }, at: job.startedAt ?? job.updatedAt, attempt: job.attempt });
    return live;
  }

  /**
   * Ends an attempt's live stream. With the record the engine returned after finish/release, the
   * status event it wrote goes out (built from the record, as the contract defines it).
   */
  endLive(live: LiveJob, after?: { record: JobRecord; type: JobEventType; data: unknown }): void {
    live.dispose();
    if (this.#live.get(live.jobId) === live) this.#live.delete(live.jobId);
    if (after) this.deliver({ jobId: live.jobId, seq: after.record.lastSeq, type: after.type, data: after.data, at: after.record.updatedAt, attempt: after.record.attempt });
    this.#kickPoll();
  }

  /** Fans an event out to this job's subscribers here. */
  deliver(event: JobEvent): void {
    const subs = this.#subs.get(event.jobId);
    if (!subs) return;
    for (const sub of subs) {
      sub.offer(event);
      if (sub.needsFill && !sub.ended) this.#fill(sub);
    }
  }

  /** Something changed a job's stream outside a live attempt here (cancel, retry): read the store soon. */
  poke(jobId: string): void {
    if (this.#subs.has(jobId)) this.#kickPoll();
  }

  /** See JobSystem.subscribe. */
  subscribe(jobId: string, fromSeq = 0, opts: { signal?: AbortSignal } = {}): AsyncIterable<JobEvent> {
    const hub = this;
    return {
      [Symbol.asyncIterator](): AsyncIterator<JobEvent> {
        if (hub.#closed) throw new ClosedError('job event stream');
        const from = Math.max(0, Math.floor(Number(fromSeq) || 0));
        let onAbort: (() => void) | undefined;
        const sub = new Subscriber(jobId, from, hub.options.maxBuffer, () => {
          const set = hub.#subs.get(jobId);
          set?.delete(sub);
          if (set?.size === 0) hub.#subs.delete(jobId);
          if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
        });
        if (opts.signal?.aborted) {
          sub.end();
          return sub;
        }
        if (opts.signal) {
          onAbort = () => sub.end();
          opts.signal.addEventListener('abort', onAbort, { once: true });
        }
        let set = hub.#subs.get(jobId);
        if (!set) hub.#subs.set(jobId, (set = new Set()));
        set.add(sub);
        hub.#start(sub);
        return sub;
      },
    };
  }

  /** Ends every subscriber and stops polling. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    for (const set of [...this.#subs.values()]) for (const sub of [...set]) sub.end();
    for (const live of this.#live.values()) live.dispose();
  }

  async #start(sub: Subscriber): Promise<void> {
    try {
      const job = await this.options.engine.get(sub.jobId);
      if (!job) {
        return sub.end(new NotFoundError(`no job has the id ${sub.jobId}`, { code: 'TL_ERR_JOB_NOT_FOUND', details: { jobId: sub.jobId } }));
      }
      if (FINAL_STATES.has(job.state) && job.lastSeq <= sub.cursor) return sub.end();
      this.#fill(sub);
      if (this.options.engine.follow) this.#follow(sub);
    } catch (err) {
      sub.end(toTasklaneError(err));
    }
  }

  /**
   * Engines shared by processes (Redis) push stored events as any process writes them: the
   * subscriber takes them as they come instead of reading the store every pollMs. offer() keeps
   * the no-hole/no-duplicate rule against the local live events; a gap still triggers a refill.
   */
  #follow(sub: Subscriber): void {
    const controller = new AbortController();
    sub.stopFollow = () => controller.abort();
    void (async () => {
      try {
        const events = await this.options.engine.follow!(sub.jobId, sub.cursor, { signal: controller.signal });
        for await (const e of events) {
          sub.offer(e);
          if (sub.needsFill && !sub.ended) this.#fill(sub);
          if (sub.ended) break;
        }
      } catch (err) {
        // Aborted because the subscriber ended, or the store went away: polling (below) carries on.
        if (!sub.ended && !controller.signal.aborted) this.options.onError(toTasklaneError(err));
      } finally {
        if (sub.stopFollow) sub.stopFollow = undefined;
      }
    })();
  }

  /** Refills a subscriber from the waiting events and the store until it has no gap left. */
  #fill(sub: Subscriber): void {
    if (sub.filling || sub.ended) return;
    sub.filling = true;
    void (async () => {
      try {
        while (sub.needsFill && !sub.ended && !this.#closed) {
          // Leave room: a subscriber that is far behind is filled as it drains.
          const room = this.options.maxBuffer - sub.buffered;
          if (room <= 0) break;
          sub.needsFill = false;
          const waiting = this.#live.get(sub.jobId)?.unstored.slice() ?? [];
          const stored = await this.options.engine.readEvents(sub.jobId, sub.cursor, room);
          for (const e of stored) sub.offer(e);
          if (stored.length === room) sub.needsFill = true;
          for (const e of waiting) sub.offer(e);
        }
      } catch (err) {
        sub.needsFill = true;
        this.options.onError(toTasklaneError(err));
      } finally {
        sub.filling = false;
      }
      if (!sub.ended) this.#kickPoll();
    })();
  }

  /** Subscribers of jobs not running here, or waiting on a refill, read the store every pollMs. */
  #kickPoll(): void {
    if (this.#closed || this.#pollTimer || this.#subs.size === 0) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      for (const [jobId, set] of this.#subs) {
        const live = this.#live.has(jobId);
        for (const sub of set) {
          // A subscriber fed by the engine's follow() needs the store only to fill a gap.
          if ((!live && !sub.stopFollow) || sub.needsFill) {
            sub.needsFill = true;
            this.#fill(sub);
          }
        }
      }
      this.#kickPoll();
    }, this.options.pollMs);
  }
}
