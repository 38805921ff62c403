// Over 350 lines: the whole JobEngine contract faces out here, each method a few lines handing off to reads, writes, leases, events or workflow.ts.
import type { Redis } from 'ioredis';
import { StoreError, TasklaneError } from '../../../errors.js';
import type {
  Claim,
  ClaimOptions,
  EngineEnqueueOptions,
  FinishOutcome,
  ChildRecord,
  JobCounts,
  JournalEntry,
  JobEngine,
  PendingEvent,
  PruneCut,
} from '../../engine.js';
import type { JobEvent, JobRecord, ListQuery, WaitFor } from '../../types.js';
import { connect, quit, whenAllReady, type RedisConnections } from './connections.js';
import { Keys } from './keys.js';
import { callScript, storeError, type Scripted } from './common.js';
import { RedisLeases } from './leases.js';
import { RedisReads } from './reads.js';
import { RedisWrites } from './writes.js';
import { RedisEvents } from './events.js';
import { storeClosed } from '../common.js';
import { BullDispatch } from './dispatch.js';
import { Recovery } from './recovery.js';
import { defineScripts } from './scripts.js';
import { assertKnown, REDIS_FORMAT, type FormatAnswer } from './format.js';
import { RedisWorkflows } from './workflow.js';
import { RedisLimits } from './limits.js';
import { RedisScheduleStore } from './schedule-store.js';

/**
 * The Redis engine: BullMQ dispatches jobs (one queue per task) and holds their leases — a BullMQ
 * lock is our lease, its token our fencing token, its stalled-job checker our recovery. Job records,
 * indexes and event streams are ours, changed by Lua scripts that check the token against BullMQ's
 * lock in the same step. The record is the truth: when BullMQ and a record disagree (a crash between
 * the two writes), the record wins at the next claim or recovery sweep.
 *
 * BullMQ plumbing and claim throttling live in dispatch.ts, the recovery sweep in recovery.ts, the
 * scripts in lua/.
 */

export interface RedisEngineOptions {
  url: string;
  prefix: string;
  /** Default lease (BullMQ lock duration), in ms; claim() may ask for another. */
  leaseMs: number;
  /** Background failures (connection errors, a BullMQ step that failed after its record moved). */
  onError: (err: TasklaneError) => void;
  /** How often BullMQ's stalled-job checker runs, in ms; default half the lease (min 250). */
  recoverEveryMs?: number;
}

/** Longest wait for Redis in start() before going on not ready. */
const START_WAIT_MS = 5_000;

export class RedisJobEngine implements JobEngine {
  readonly kind = 'redis';
  readonly keys: Keys;
  readonly #conn: RedisConnections;
  /** API commands: fail fast while Redis is down. */
  readonly #redis: Scripted;
  /** Worker commands: wait for Redis to come back. */
  readonly #work: Scripted;
  readonly #reads: RedisReads;
  readonly #writes: RedisWrites;
  readonly #leases: RedisLeases;
  readonly #events: RedisEvents;
  readonly #cancelListeners = new Set<(jobId: string) => void>();
  readonly #report: (err: Error, what: string) => void;
  readonly #bullmq: BullDispatch;
  readonly #recovery: Recovery;
  readonly #wf: RedisWorkflows;
  #closing?: Promise<void>;
  #started?: Promise<void>;
  /** Set when Redis came up after start() holding a newer format: every call refuses. */
  #formatError?: TasklaneError;
  /** Schedule state and per-task limit groups (schedules/, limits/). */
  readonly schedules: RedisScheduleStore;
  readonly limits: RedisLimits;

  constructor(options: RedisEngineOptions) {
    this.keys = new Keys(options.prefix);
    this.#report = (err, what) =>
      options.onError(
        TasklaneError.isInstance(err) ? err : new StoreError('TL_ERR_STORE_UNAVAILABLE', `redis (${what}): ${err.message}`, { cause: err }),
      );
    this.#conn = connect(options.url, this.#report);
    this.#redis = this.#conn.commands as Scripted;
    this.#work = this.#conn.work as Scripted;
    defineScripts(this.#redis);
    defineScripts(this.#work);
    this.#bullmq = new BullDispatch({
      conn: this.#conn,
      keys: this.keys,
      leaseMs: options.leaseMs,
      recoverEveryMs: options.recoverEveryMs,
      report: this.#report,
      onStalled: (task, jobId) => {
        this.#recovery.recoverOne(task, jobId).catch((err) => this.#report(err as Error, 'recover'));
      },
    });
    this.#recovery = new Recovery(this.#work, this.keys, this.#bullmq, (woken) => this.#wf.dispatchWoken(woken));
    this.#wf = new RedisWorkflows({
      redis: this.#redis,
      work: this.#work,
      keys: this.keys,
      bullmq: this.#bullmq,
      held: (id) => this.#leases.held(id),
      drop: (id) => this.#leases.drop(id),
      get: (id) => this.get(id),
      report: this.#report,
    });
    this.schedules = new RedisScheduleStore(this.#redis, options.prefix);
    this.limits = new RedisLimits(this.#redis, options.prefix, (id, task, priority) => this.#bullmq.dispatch(id, task, priority, 0));
    this.#writes = new RedisWrites({
      redis: this.#redis,
      keys: this.keys,
      bullmq: this.#bullmq,
      mustGet: (id) => this.#mustGet(id),
      woken: (woken) => this.#wf.dispatchWoken(woken),
      limits: this.limits,
    });
    this.#reads = new RedisReads(this.#redis, this.keys, (err) => this.#storeError(err));
    this.#leases = new RedisLeases({
      work: this.#work,
      keys: this.keys,
      bullmq: this.#bullmq,
      report: this.#report,
      get: (id) => this.get(id),
      // A child's end may have woken its parent (see finish.lua, release.lua).
      woken: (woken) => this.#wf.dispatchWoken(woken),
    });
    this.#events = new RedisEvents({
      conn: this.#conn,
      keys: this.keys,
      mustGet: (id) => this.#mustGet(id),
      storeError: (err) => this.#storeError(err),
      report: this.#report,
    });
    this.#conn.subscriber.on('message', (channel: string, id: string) => {
      if (channel !== this.keys.cancelChannel() || !this.#leases.holds(id)) return;
      for (const l of this.#cancelListeners) {
        try {
          l(id);
        } catch (err) {
          this.#report(err as Error, 'cancel listener');
        }
      }
    });
  }

  /**
   * Waits (a bounded time) for the connections and the cancel subscription. When Redis is not there
   * yet, start goes on, ready() says so, and the connections keep retrying. Idempotent.
   */
  start(): Promise<void> {
    this.#started ??= (async () => {
      const ok = await whenAllReady(this.#conn, this.keys.cancelChannel(), START_WAIT_MS, (err) =>
        this.#report(err, 'cancel subscription'),
      );
      if (ok) {
        // A prefix written by a newer tasklane: refuse to start (the error reaches the runtime's start).
        await this.format({ migrate: true });
        return;
      }
      this.#report(new Error(`not reachable within ${START_WAIT_MS} ms; retrying in the background`), 'start');
      this.#conn.commands.once('ready', () => {
        this.format({ migrate: true }).catch((err: Error) => {
          if (TasklaneError.isInstance(err) && err.code === 'TL_ERR_STORE_TOO_NEW') this.#formatError = err;
          this.#report(err, 'format');
        });
      });
    })();
    return this.#started;
  }

  /**
   * The format version under the prefix; with `migrate`, an older (or empty) prefix is brought to
   * this binary's version first. A newer one is TL_ERR_STORE_TOO_NEW naming both versions.
   */
  async format(opts: { migrate: boolean }): Promise<FormatAnswer> {
    let answer: [number, number];
    try {
      answer = (await this.#call(this.#redis, 'tlFormat', [this.keys.meta()], [REDIS_FORMAT, opts.migrate ? '1' : '0'])) as [
        number,
        number,
      ];
    } catch (err) {
      throw this.#storeError(err);
    }
    return assertKnown(this.keys.prefix, { found: Number(answer[0]), now: Number(answer[1]) });
  }

  ready(): true | string {
    if (this.#closing) return 'the redis job engine is closed';
    if (this.#formatError) return this.#formatError.message;
    const down = Object.entries(this.#conn)
      .filter(([, c]) => (c as Redis).status !== 'ready')
      .map(([name, c]) => `${name}: ${(c as Redis).status}`);
    return down.length ? `redis not connected (${down.join(', ')})` : true;
  }

  // ── queue side ──────────────────────────────────────────────────────────

  // See writes.ts.

  async enqueue(task: string, input: unknown, opts: EngineEnqueueOptions): Promise<JobRecord> {
    this.#assertOpen();
    return this.#writes.enqueue(task, input, opts);
  }

  async get(id: string): Promise<JobRecord | undefined> {
    this.#assertOpen();
    return this.#reads.get(id);
  }

  async #mustGet(id: string): Promise<JobRecord> {
    this.#assertOpen();
    return this.#reads.mustGet(id);
  }

  /** See reads.ts. */
  async list(q: ListQuery = {}): Promise<{ jobs: JobRecord[]; next?: string }> {
    this.#assertOpen();
    return this.#reads.list(q);
  }

  async counts(tasks: readonly string[] = [], owner?: ListQuery['owner']): Promise<JobCounts | undefined> {
    this.#assertOpen();
    return this.#reads.counts(tasks, owner);
  }

  async cancel(id: string): Promise<JobRecord> {
    this.#assertOpen();
    return this.#writes.cancel(id);
  }

  async retry(id: string): Promise<JobRecord> {
    this.#assertOpen();
    return this.#writes.retry(id);
  }

  // ── worker side ─────────────────────────────────────────────────────────

  // See leases.ts.

  async claim(workerId: string, opts: ClaimOptions): Promise<Claim | undefined> {
    this.#assertOpen();
    return this.#leases.claim(workerId, opts);
  }

  renew(id: string, token: string, leaseMs: number): Promise<{ cancelRequested: boolean }> {
    return this.#leases.renew(id, token, leaseMs);
  }

  finish(id: string, token: string, end: FinishOutcome): Promise<JobRecord> {
    return this.#leases.finish(id, token, end);
  }

  release(id: string, token: string): Promise<JobRecord | undefined> {
    return this.#leases.release(id, token);
  }

  onCancelRequested(listener: (jobId: string) => void): () => void {
    this.#cancelListeners.add(listener);
    return () => this.#cancelListeners.delete(listener);
  }

  async prune(cut: PruneCut, limit: number): Promise<number> {
    this.#assertOpen();
    return this.#writes.prune(cut, limit);
  }

  /** See recovery.ts. */
  async recoverExpired(): Promise<number> {
    this.#assertOpen();
    return this.#recovery.sweep();
  }

  // ── workflows (workflow.ts) ─────────────────────────────────────────────

  readJournal(id: string): Promise<JournalEntry[]> {
    this.#assertOpen();
    return this.#wf.readJournal(id);
  }

  writeJournal(id: string, token: string, entries: readonly JournalEntry[]): Promise<void> {
    return this.#wf.writeJournal(id, token, entries);
  }

  park(id: string, token: string, waitFor: WaitFor, entries?: readonly JournalEntry[]): Promise<JobRecord> {
    return this.#wf.park(id, token, waitFor, entries);
  }

  wakeDue(): Promise<number> {
    this.#assertOpen();
    return this.#wf.wakeDue();
  }

  signal(id: string, name: string, payload: unknown): Promise<JobRecord> {
    this.#assertOpen();
    return this.#wf.signal(id, name, payload);
  }

  takeSignal(
    id: string,
    token: string,
    name: string,
    entry: Pick<JournalEntry, 'key' | 'pos' | 'startedAt'>,
  ): Promise<{ payload: unknown } | undefined> {
    return this.#wf.takeSignal(id, token, name, entry);
  }

  children(id: string): Promise<ChildRecord[]> {
    this.#assertOpen();
    return this.#wf.children(id);
  }

  // ── events (events.ts) ──────────────────────────────────────────────────

  appendEvents(id: string, token: string, events: readonly PendingEvent[]): Promise<void> {
    return this.#events.append(id, token, events);
  }

  async readEvents(id: string, fromSeq: number, limit?: number): Promise<JobEvent[]> {
    this.#assertOpen();
    return this.#events.read(id, fromSeq, limit);
  }

  async follow(id: string, fromSeq: number, opts: { signal?: AbortSignal } = {}): Promise<AsyncIterable<JobEvent>> {
    this.#assertOpen();
    return this.#events.follow(id, fromSeq, opts);
  }

  // ── lifecycle ───────────────────────────────────────────────────────────

  /** Closes every connection this engine opened; bounded even when Redis is down. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#events.close();
      await this.#bullmq.close();
      await quit(this.#conn.subscriber, 500);
      await quit(this.#conn.work, 1_000);
      await quit(this.#conn.commands, 1_000);
    })();
    return this.#closing;
  }

  /** Disconnects every connection now (close() ran past its deadline); never waits for Redis. */
  destroy(): void {
    this.#closing ??= Promise.resolve();
    void this.#events.close();
    void this.#bullmq.close();
    for (const c of [this.#conn.subscriber, this.#conn.work, this.#conn.blocking, this.#conn.commands]) c.disconnect();
  }

  // ── helpers ─────────────────────────────────────────────────────────────

  #assertOpen(): void {
    if (this.#closing) throw storeClosed('redis');
    if (this.#formatError) throw this.#formatError;
  }

  #storeError(err: unknown): TasklaneError {
    return storeError(err, this.#conn.commands);
  }

  #call(client: Scripted, name: string, keys: string[], args: Array<string | number>, now = Date.now()): Promise<unknown> {
    return callScript(client, this.keys.prefix, name, keys, args, now);
  }
}
