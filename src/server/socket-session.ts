import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { rateLimited, TasklaneError, toTasklaneError, ValidationError } from '../errors.js';
import type { EventWatch, JobSystem } from '../jobs/types.js';
import type { Runtime } from '../create-runtime.js';
import type { Principal } from './auth.js';
import type { EventFrames } from './event-frames.js';
import { RateLimiter } from './limits.js';
import { viewerOf, visibleOr404 } from './ownership.js';
import { assertJobAllowed, assertNotExpired, onExpiry } from './stream-auth.js';
import type { StreamSlots } from './stream-slots.js';
import { closeReason, socketErrorMessage } from './streams/wire-errors.js';
import type { FlushQueue } from './flush-queue.js';
import type { WriteBatcher } from './write-batcher.js';
import { parseWith } from './parse-with.js';
import { socketMessage } from './routes/job-schemas.js';

/** Close code for a peer that stopped reading: it reconnects and resubscribes from its last seq. */
export const SLOW_CONSUMER_CLOSE = 4008;

export interface SessionLimits {
  highWaterBytes: number;
  stallMs: number;
  maxSubscriptions: number;
  messagesPerSecond: number;
}

/** Close code for a peer that kept sending past its message rate. */
export const POLICY_CLOSE = 1008;

/** Close code when the stream token the socket was opened with expires: mint a new one and reconnect. */
export const TOKEN_EXPIRED_CLOSE = 4001;

/** One job followed on a socket. */
interface Subscription {
  jobId: string;
  /** Given back (unsubscribed, replaced, ended, socket closed). */
  done: boolean;
  release: () => void;
  /** The hub's push-mode subscription, once the job was found visible. */
  watch?: EventWatch;
  /** Stops the loop of a job system without push mode. */
  abort?: () => void;
}

/**
 * One WebSocket: many job subscriptions, each a push-mode watch on the event hub. The hub buffers
 * events per subscription and marks the socket ready; once per loop turn the socket takes every
 * waiting event and writes the pre-built frames in one writev. Above the high-water mark of
 * unflushed bytes nothing is taken until the socket drains (the hub's buffer per subscriber is
 * bounded and refilled from the store), so a slow peer never makes us buffer without bound and
 * never loses an event while it stays connected. A peer stuck above the mark for `stallMs` is
 * closed with 4008.
 */
export class SocketSession {
  /** Set false on each ping, true on pong or any message; false at the next ping = dead peer. */
  alive = true;
  readonly #socket: WebSocket;
  /** The TCP socket under the WebSocket (corked per loop turn, watched for 'drain'). */
  readonly #raw: Socket;
  readonly #batcher: WriteBatcher;
  readonly #jobs: JobSystem;
  readonly #runtime: Runtime;
  readonly #principal: Principal;
  readonly #frames: EventFrames;
  readonly #limits: SessionLimits;
  readonly #gauge: { inc(): void; dec(): void };
  /** Subscriptions per client key across all its sockets (server.streams.maxSubscriptionsPerKey). */
  readonly #subscriptionSlots: StreamSlots;
  readonly #stopExpiry: () => void;
  readonly #subs = new Map<string, Subscription>();
  /** Subscriptions with events waiting for this turn's flush. */
  readonly #dirty = new Set<Subscription>();
  readonly #queue: FlushQueue;
  #waiters: Array<() => void> = [];
  #stallTimer?: NodeJS.Timeout;
  #pollTimer?: NodeJS.Timeout;
  #closed = false;
  /** Over the high-water mark: flushes wait for the drain. */
  #paused = false;
  readonly #messages: RateLimiter;
  /** Messages refused in a row for the rate; past a second's worth the peer is closed. */
  #refused = 0;

  constructor(
    socket: WebSocket,
    deps: {
      raw: Socket;
      batcher: WriteBatcher;
      queue: FlushQueue;
      jobs: JobSystem;
      runtime: Runtime;
      principal: Principal;
      frames: EventFrames;
      gauge: { inc(): void; dec(): void };
      limits: SessionLimits;
      subscriptionSlots: StreamSlots;
    },
  ) {
    this.#socket = socket;
    this.#raw = deps.raw;
    this.#batcher = deps.batcher;
    this.#queue = deps.queue;
    this.#raw.on('drain', this.#onDrain);
    this.#jobs = deps.jobs;
    this.#runtime = deps.runtime;
    this.#principal = deps.principal;
    this.#frames = deps.frames;
    this.#limits = deps.limits;
    // Bursts up to a full set of subscriptions: a client that reconnects resubscribes all at once.
    this.#messages = new RateLimiter(
      deps.limits.messagesPerSecond,
      Math.max(deps.limits.messagesPerSecond * 2, deps.limits.maxSubscriptions),
    );
    this.#gauge = deps.gauge;
    this.#subscriptionSlots = deps.subscriptionSlots;
    // A socket opened with a token lives as long as the token: then it closes with 4001.
    this.#stopExpiry = onExpiry(this.#principal, () => {
      if (this.#closed) return;
      this.#socket.close(TOKEN_EXPIRED_CLOSE, 'stream token expired: mint a new one with POST /v1/tokens and reconnect');
      this.dispose();
    });
    socket.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    socket.on('pong', () => (this.alive = true));
    socket.once('close', () => this.dispose());
  }

  get subscriptions(): number {
    return this.#subs.size;
  }

  /** Ends every subscription and wakes loops waiting for a drain. */
  dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopExpiry();
    clearTimeout(this.#stallTimer);
    this.#raw.removeListener('drain', this.#onDrain);
    for (const sub of [...this.#subs.values()]) this.#end(sub);
    this.#wake();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    this.alive = true;
    if (this.#closed) return;
    const waitMs = this.#messages.take('');
    if (waitMs > 0) {
      if (++this.#refused > this.#limits.messagesPerSecond) {
        this.#runtime.log.warn(
          { messagesPerSecond: this.#limits.messagesPerSecond },
          'closing a WebSocket that kept sending past its message rate',
        );
        this.#socket.close(POLICY_CLOSE, closeReason('too many messages (server.streams.wsMessagesPerSecond)', this.#runtime.scrub));
        return this.dispose();
      }
      return this.#sendError(
        rateLimited(
          `too many messages on this connection (server.streams.wsMessagesPerSecond = ${this.#limits.messagesPerSecond}); retry in ${waitMs} ms`,
          waitMs,
        ),
      );
    }
    this.#refused = 0;
    let msg;
    try {
      if (isBinary) throw new ValidationError('send JSON text frames, not binary');
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString('utf8'));
      } catch {
        throw new ValidationError(
          'invalid message: not JSON; send {"op":"subscribe","jobId":"...","fromSeq":0} or {"op":"unsubscribe","jobId":"..."}',
        );
      }
      msg = parseWith(socketMessage, parsed, 'message');
    } catch (err) {
      return this.#sendError(err);
    }
    if (msg.op === 'unsubscribe') {
      const sub = this.#subs.get(msg.jobId);
      if (sub) this.#end(sub);
      this.#send({ type: 'unsubscribed', jobId: msg.jobId });
      return;
    }
    void this.#subscribe(msg.jobId, msg.fromSeq ?? 0);
  }

  async #subscribe(jobId: string, fromSeq: number): Promise<void> {
    // Subscribing again replaces the old subscription (a client resuming from a new seq).
    const old = this.#subs.get(jobId);
    if (old) this.#end(old);
    if (this.#subs.size >= this.#limits.maxSubscriptions) {
      return this.#sendError(
        new ValidationError(
          `this connection already follows ${this.#subs.size} jobs (server.streams.wsMaxSubscriptions); unsubscribe from some first`,
        ),
        jobId,
      );
    }
    let release: () => void;
    try {
      assertNotExpired(this.#principal);
      release = this.#subscriptionSlots.acquire(this.#principal);
    } catch (err) {
      if (TasklaneError.isInstance(err) && err.code === 'TL_ERR_AUTH_TOKEN_EXPIRED') {
        this.#socket.close(TOKEN_EXPIRED_CLOSE, 'stream token expired: mint a new one with POST /v1/tokens and reconnect');
        this.dispose();
        return;
      }
      return this.#sendError(err, jobId);
    }
    const sub: Subscription = { jobId, done: false, release };
    this.#subs.set(jobId, sub);
    this.#gauge.inc();
    try {
      assertJobAllowed(this.#principal, jobId);
      // Another owner's job is answered as a missing one (server/ownership.ts).
      visibleOr404(viewerOf(this.#principal), jobId, await this.#jobs.get(jobId));
      if (sub.done) return;
      this.#send({ type: 'subscribed', jobId, fromSeq });
      if (this.#jobs.watch) {
        sub.watch = this.#jobs.watch(jobId, fromSeq, () => this.#ready(sub));
        return;
      }
      // A job system without push mode: one loop per subscription.
      const controller = new AbortController();
      sub.abort = () => controller.abort();
      for await (const event of this.#jobs.subscribe(jobId, fromSeq, { signal: controller.signal })) {
        if (this.#socket.bufferedAmount > this.#limits.highWaterBytes) await this.#drained();
        if (sub.done || this.#closed) return;
        this.#write(this.#frames.socket(event));
      }
      if (!sub.done) this.#send({ type: 'unsubscribed', jobId, reason: 'ended' });
      this.#end(sub);
    } catch (err) {
      if (!sub.done) this.#sendError(err, jobId);
      this.#end(sub);
    }
  }

  /** Events are waiting on a subscription: flush this socket at the end of the turn. */
  #ready(sub: Subscription): void {
    if (sub.done || this.#closed) return;
    this.#dirty.add(sub);
    this.#queue.schedule(this);
  }

  /**
   * Writes every waiting event of every subscription of this socket in one go (the pre-built
   * frames, one writev), then the end of the subscriptions that ended. Above the high-water mark
   * nothing is taken: the events wait in the hub's bounded buffers (refilled from the store
   * past it) until the socket drains.
   */
  flush(): void {
    if (this.#closed || this.#dirty.size === 0) return;
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    if (this.#socket.bufferedAmount > this.#limits.highWaterBytes) {
      if (this.#paused) return;
      this.#paused = true;
      void this.#drained().then(() => {
        this.#paused = false;
        this.#queue.schedule(this);
      });
      return;
    }
    // Frames go straight to the TCP socket, so ws must not be holding frames of its own (it only
    // queues while compressing; no extension is negotiated on /v1/ws, checked to be sure).
    const raw = !this.#socket.extensions;
    this.#raw.cork();
    try {
      for (const sub of this.#dirty) {
        const watch = sub.watch!;
        for (const event of watch.take()) {
          if (raw) this.#raw.write(this.#frames.wsFrame(event));
          else this.#socket.send(this.#frames.socket(event), { binary: false });
        }
        if (watch.ended && watch.buffered === 0 && !sub.done) {
          if (watch.error) this.#sendError(watch.error, sub.jobId);
          else this.#send({ type: 'unsubscribed', jobId: sub.jobId, reason: 'ended' });
          this.#end(sub);
        }
      }
      this.#dirty.clear();
    } finally {
      this.#raw.uncork();
    }
  }

  /** Gives a subscription back (unsubscribed, replaced, ended or the socket closed). */
  #end(sub: Subscription): void {
    if (sub.done) return;
    sub.done = true;
    sub.watch?.close();
    sub.abort?.();
    sub.release();
    this.#gauge.dec();
    this.#dirty.delete(sub);
    if (this.#subs.get(sub.jobId) === sub) this.#subs.delete(sub.jobId);
  }

  #write(frame: Buffer): void {
    if (this.#closed || this.#socket.readyState !== this.#socket.OPEN) return;
    this.#batcher.hold(this.#raw);
    this.#socket.send(frame, { binary: false });
  }

  #send(message: Record<string, unknown>): void {
    this.#write(Buffer.from(JSON.stringify(message)));
  }

  #sendError(err: unknown, jobId?: string): void {
    const e = toTasklaneError(err);
    if (e.httpStatus >= 500) this.#runtime.log.warn({ err: e, jobId }, 'job socket subscription failed');
    this.#send(socketErrorMessage(e, this.#runtime.scrub, jobId));
  }

  /** Resolves once the socket has drained below the high-water mark (or closed). */
  #drained(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#stallTimer ??= setTimeout(() => {
      this.#runtime.log.warn(
        { bufferedBytes: this.#socket.bufferedAmount, stallMs: this.#limits.stallMs },
        'closing a WebSocket that stopped reading',
      );
      this.#socket.close(SLOW_CONSUMER_CLOSE, 'slow consumer: reconnect and resubscribe from your last seq');
      // The close frame waits behind the unread data; a peer that still reads nothing is cut off.
      setTimeout(() => this.#socket.terminate(), this.#limits.stallMs).unref();
      this.dispose();
    }, this.#limits.stallMs);
    // 'drain' only fires after a write() returned false, i.e. past the socket's own 16 KiB mark;
    // below it (a small high-water mark, or bytes still corked) we re-check on a short timer.
    this.#pollTimer ??= setInterval(this.#onDrain, 5);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  readonly #onDrain = (): void => {
    if (this.#socket.bufferedAmount <= this.#limits.highWaterBytes) this.#wake();
  };

  #wake(): void {
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
