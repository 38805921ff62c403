/**
 * Job event streams: the hub ties live attempts (live-job.ts) to subscribers (subscriber.ts).
 * Events of jobs running here get their seq on the main thread in emit order, reach local
 * subscribers at once and are stored in batches (a short timer or a full batch, and
 * always before the job's final state is committed). Subscribers of jobs running elsewhere (or
 * not running) read the store on a timer.
 *
 * No hole, no duplicate: a subscriber takes an event only if its seq is the next one it expects.
 * Anything else (it joined late, fell behind, the job moved between processes) marks it for a
 * refill: the events still waiting to be stored, snapshotted before the store is read, plus the
 * store from its cursor. An event is always in one of the two, since it leaves the waiting list
 * only once stored.
 */
import { ClosedError, NotFoundError, toTasklaneError, type TasklaneError } from '../../errors.js';
import { FINAL_STATES, type EventWatch, type JobEvent, type JobEventType, type JobRecord } from '../types.js';
import { LiveJob, type LiveJobOptions } from './live-job.js';
import { Subscriber } from './subscriber.js';

/** Most jobs asked about in one lastSeqs call. */
const POLL_CHUNK = 500;

export interface EventHubOptions extends LiveJobOptions {
  /** How often subscribers of jobs not running here read the store, in ms. */
  pollMs: number;
  /** Most events buffered per subscriber; past it the subscriber reads the store when it catches up. */
  maxBuffer: number;
}

export class EventHub {
  readonly options: EventHubOptions;
  readonly #live = new Map<string, LiveJob>();
  readonly #subs = new Map<string, Set<Subscriber>>();
  #pollTimer?: NodeJS.Timeout;
  /** A poll is under way (the next is armed when it ends). */
  #polling = false;
  #closed = false;

  constructor(options: EventHubOptions) {
    this.options = options;
  }

  /** Starts the live stream of an attempt just claimed here; `started` (its seq is the record's lastSeq) goes out at once. */
  startLive(job: JobRecord, token: string, coalesceMs: number, onLost: (err: TasklaneError) => void): LiveJob {
    const live = new LiveJob(this, job, token, coalesceMs, onLost);
    this.#live.set(job.id, live);
    this.deliver({
      jobId: job.id,
      seq: job.lastSeq,
      type: 'started',
      data: { attempt: job.attempt, workerId: job.workerId },
      at: job.startedAt ?? job.updatedAt,
      attempt: job.attempt,
    });
    return live;
  }

  /**
   * Ends an attempt's live stream. With the record the engine returned after finish/release, the
   * status event it wrote goes out (built from the record, as the contract defines it).
   */
  endLive(live: LiveJob, after?: { record: JobRecord; type: JobEventType; data: unknown }): void {
    live.dispose();
    if (this.#live.get(live.jobId) === live) this.#live.delete(live.jobId);
    if (after)
      this.deliver({
        jobId: live.jobId,
        seq: after.record.lastSeq,
        type: after.type,
        data: after.data,
        at: after.record.updatedAt,
        attempt: after.record.attempt,
      });
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
          hub.#remove(sub);
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
        hub.#add(sub);
        return sub;
      },
    };
  }

  /**
   * Push-mode subscription (the WebSocket fan-out): the same no-hole rule as subscribe(), but the
   * hub calls `onReady` when events are buffered and the reader takes them in its own batch, so a
   * thousand sockets need no async iterator each.
   */
  watch(jobId: string, fromSeq: number, onReady: () => void): EventWatch {
    if (this.#closed) throw new ClosedError('job event stream');
    const from = Math.max(0, Math.floor(Number(fromSeq) || 0));
    const sub: Subscriber = new Subscriber(jobId, from, this.options.maxBuffer, () => this.#remove(sub), onReady);
    this.#add(sub);
    return sub;
  }

  #add(sub: Subscriber): void {
    let set = this.#subs.get(sub.jobId);
    if (!set) this.#subs.set(sub.jobId, (set = new Set()));
    set.add(sub);
    void this.#start(sub);
  }

  #remove(sub: Subscriber): void {
    const set = this.#subs.get(sub.jobId);
    set?.delete(sub);
    if (set?.size === 0) this.#subs.delete(sub.jobId);
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
        return sub.end(
          new NotFoundError(`no job has the id ${sub.jobId}`, { code: 'TL_ERR_JOB_NOT_FOUND', details: { jobId: sub.jobId } }),
        );
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

  /**
   * Subscribers of jobs not running here, or waiting on a refill, read the store every pollMs,
   * shared: one `lastSeqs` query per poll for every polled job (engines that have it), then one
   * read per job that has new events, whatever the number of its subscribers. A subscriber with a
   * gap of its own (a refill) reads for itself.
   */
  #kickPoll(): void {
    if (this.#closed || this.#pollTimer || this.#polling || this.#subs.size === 0) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.#polling = true;
      void this.#poll()
        .catch((err) => this.options.onError(toTasklaneError(err)))
        .finally(() => {
          this.#polling = false;
          this.#kickPoll();
        });
    }, this.options.pollMs);
  }

  async #poll(): Promise<void> {
    const polled = new Map<string, Subscriber[]>();
    for (const [jobId, set] of this.#subs) {
      const live = this.#live.has(jobId);
      for (const sub of set) {
        if (sub.ended || sub.filling) continue;
        if (sub.needsFill) this.#fill(sub);
        // A subscriber fed by the engine's follow() needs the store only to fill a gap.
        else if (!live && !sub.stopFollow) {
          let subs = polled.get(jobId);
          if (!subs) polled.set(jobId, (subs = []));
          subs.push(sub);
        }
      }
    }
    if (polled.size === 0) return;
    let changed = [...polled.keys()];
    const { engine } = this.options;
    if (engine.lastSeqs) {
      const heads = new Map<string, number>();
      for (let i = 0; i < changed.length; i += POLL_CHUNK) {
        for (const [id, seq] of await engine.lastSeqs(changed.slice(i, i + POLL_CHUNK))) heads.set(id, seq);
      }
      changed = changed.filter((id) => (heads.get(id) ?? 0) > Math.min(...polled.get(id)!.map((s) => s.cursor)));
    }
    await Promise.all(changed.map((id) => this.#pollJob(id, polled.get(id)!)));
  }

  /** One store read for every polled subscriber of a job, from the earliest cursor among them. */
  async #pollJob(jobId: string, subs: Subscriber[]): Promise<void> {
    const from = Math.min(...subs.map((s) => s.cursor));
    const limit = this.options.maxBuffer;
    let stored: JobEvent[];
    try {
      stored = await this.options.engine.readEvents(jobId, from, limit);
    } catch (err) {
      this.options.onError(toTasklaneError(err));
      return;
    }
    for (const sub of subs) {
      if (sub.ended || sub.filling) continue;
      for (const e of stored) sub.offer(e);
      if (stored.length === limit) sub.needsFill = true;
      if (sub.needsFill && !sub.ended) this.#fill(sub);
    }
  }
}
