import { randomUUID } from 'node:crypto';
import { createRedisBackend, Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { JobError, NotFoundError, StoreError, TasklaneError } from '../../../errors.js';
import { connect, quit, type RedisConnections } from './connections.js';
import { EventFollower } from './event-follower.js';
import { EventLog } from './event-log.js';
import { Keys, QUEUE_NAME } from './keys.js';
import type { EnqueueOptions, JobEvent, JobRecord, JobState, ListQuery } from './pending-types.js';
import { flatToHash, hashToRecord } from './records.js';
import { APPEND, CANCEL, CLAIMED, ENQUEUE, FINISH, RECOVER, RENEW, RETRY } from './scripts.js';

/**
 * The Redis engine: BullMQ dispatches jobs and holds their leases (a BullMQ lock is our lease, its
 * token our fencing token, its stalled-job checker our recovery); job records, indexes and event
 * streams are ours, changed by Lua scripts that check the token against BullMQ's lock in the same
 * step. The record is the truth: when BullMQ and a record disagree (a crash between the two), the
 * record wins at the next claim or recovery sweep.
 */

export interface RedisEngineOptions {
  url: string;
  prefix: string;
  /** Lease (BullMQ lock duration), in ms. */
  leaseMs: number;
  /** Whether this process takes jobs (creates a BullMQ worker). */
  worker: boolean;
  /** Default attempts. */
  maxAttempts: number;
  /** Background failures (connection errors, a failed BullMQ step after the record moved). */
  onError: (err: TasklaneError) => void;
  /** How often the stalled-job checker runs, in ms; default half the lease (min 250). */
  recoverEveryMs?: number;
}

export interface Claim {
  job: JobRecord;
  token: string;
}

export type FinishOutcome =
  | { outcome: 'succeeded'; result: unknown }
  | { outcome: 'retry'; error: { code: string; message: string }; runAt: number }
  | { outcome: 'dead'; error: { code: string; message: string } }
  | { outcome: 'cancelled'; error?: { code: string; message: string } };

const FINAL = new Set<JobState>(['succeeded', 'dead', 'cancelled']);
const MAX_BULL_PRIORITY = 2_097_151;
const LIST_MAX = 500;

type Scripted = Redis & Record<string, (...args: Array<string | number>) => Promise<unknown>>;

export class RedisJobEngine {
  readonly keys: Keys;
  readonly #opts: RedisEngineOptions;
  readonly #conn: RedisConnections;
  readonly #redis: Scripted;
  readonly #work: Scripted;
  readonly #log: EventLog;
  readonly #follower: EventFollower;
  readonly #queue: Queue;
  readonly #worker?: Worker;
  /** Jobs this process holds a lease on: id → BullMQ job and token. */
  readonly #held = new Map<string, { job: Job; token: string }>();
  readonly #cancelListeners = new Set<(jobId: string) => void>();
  #closing?: Promise<void>;
  #started?: Promise<void>;

  constructor(options: RedisEngineOptions) {
    this.#opts = options;
    this.keys = new Keys(options.prefix);
    const report = (err: Error, which: string) =>
      options.onError(new StoreError('TL_ERR_STORE_UNAVAILABLE', `redis (${which}): ${err.message}`, { cause: err }));
    this.#conn = connect(options.url, report);
    this.#redis = this.#conn.commands as Scripted;
    this.#work = this.#conn.work as Scripted;
    const scripts = { tlEnqueue: [ENQUEUE, 3], tlClaimed: [CLAIMED, 3], tlRenew: [RENEW, 3], tlFinish: [FINISH, 3], tlCancel: [CANCEL, 2], tlRetry: [RETRY, 2], tlRecover: [RECOVER, 3], tlAppend: [APPEND, 2] } as const;
    for (const client of [this.#redis, this.#work]) {
      for (const [name, [lua, numberOfKeys]] of Object.entries(scripts)) client.defineCommand(name, { lua, numberOfKeys });
    }
    this.#log = new EventLog(this.#conn.commands, options.prefix);
    this.#follower = new EventFollower(this.#conn.blocking, this.#conn.commands, (id) => this.keys.events(id), (err) => report(err, 'events'));
    // BullMQ shares our connections, so a record write and the BullMQ step after it go down one
    // socket in order: a worker can never see a job before its record, and the two cost one round trip.
    this.#queue = new Queue(QUEUE_NAME, { connection: this.#conn.commands, prefix: options.prefix });
    this.#queue.on('error', (err) => report(err, 'queue'));
    if (options.worker) {
      const stalledInterval = options.recoverEveryMs ?? Math.max(250, Math.floor(options.leaseMs / 2));
      this.#worker = new Worker(
        QUEUE_NAME,
        null,
        {
        connection: this.#conn.work,
        prefix: options.prefix,
        autorun: false,
        lockDuration: options.leaseMs,
        // Leases are renewed by the job system (renew()), so a blocked lane cannot keep a dead job alive.
        skipLockRenewal: true,
        stalledInterval,
        // A stalled job goes back to wait every time; whether the attempt counts is the record's call.
        maxStalledCount: 1_000_000,
        drainDelay: 1,
        },
        // Share the work connection instead of duplicating it (BullMQ still opens its own blocking one).
        (name, opts) => createRedisBackend(name, opts, { blocking: false, withBlockingConnection: true }),
      );
      this.#worker.on('error', (err) => report(err, 'worker'));
      this.#worker.on('stalled', (jobId) => {
        this.#recoverOne(jobId).catch((err) => report(err as Error, 'recover'));
      });
    }
    this.#conn.subscriber.on('message', (channel: string, id: string) => {
      if (channel !== this.keys.cancelChannel() || !this.#held.has(id)) return;
      for (const l of this.#cancelListeners) {
        try {
          l(id);
        } catch (err) {
          report(err as Error, 'cancel listener');
        }
      }
    });
  }

  /** Subscribes to cancel requests and starts the stalled-job checker. Idempotent. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      await this.#conn.subscriber.subscribe(this.keys.cancelChannel());
      if (this.#worker) {
        await this.#worker.waitUntilReady();
        void this.#worker.startStalledCheckTimer();
      }
    })();
    return this.#started;
  }

  /** True when every connection is up; otherwise what is wrong (for /readyz). */
  ready(): true | string {
    if (this.#closing) return 'redis engine closing';
    const down = Object.entries(this.#conn)
      .filter(([, c]) => (c as Redis).status !== 'ready')
      .map(([name, c]) => `${name}: ${(c as Redis).status}`);
    return down.length ? `redis not connected (${down.join(', ')})` : true;
  }

  // ── queue side ──────────────────────────────────────────────────────────

  async enqueue(task: string, input: unknown, opts: EnqueueOptions = {}): Promise<JobRecord> {
    this.#assertOpen();
    const now = Date.now();
    const id = randomUUID();
    const delayMs = Math.max(0, opts.delayMs ?? 0);
    const runAt = now + delayMs;
    const state: JobState = delayMs > 0 ? 'delayed' : 'queued';
    const maxAttempts = opts.maxAttempts ?? this.#opts.maxAttempts;
    const priority = opts.priority ?? 0;
    const idem = opts.idempotencyKey ?? '';
    const inputJson = JSON.stringify(input ?? null);
    const script = this.#call(this.#redis, 'tlEnqueue', [this.keys.job(id), this.keys.events(id), idem ? this.keys.idem(idem) : this.keys.job(id)], [
      id, task, inputJson, maxAttempts, priority, idem, runAt, state, JSON.stringify({ task, runAt, priority }),
    ], now) as Promise<[number, string, string[]?]>;
    if (idem) {
      // The key may already name another job: wait for the answer before dispatching anything.
      const [created, actualId, flat] = await script;
      if (!created) return hashToRecord(flatToHash(flat ?? []))!;
      await this.#dispatch(actualId, task, priority, delayMs);
    } else {
      // Same socket, in order: the record exists before BullMQ can hand the job out.
      script.catch(() => {});
      await Promise.all([script, this.#dispatch(id, task, priority, delayMs)]);
    }
    return { id, task, state, input: JSON.parse(inputJson), attempt: 0, maxAttempts, priority, ...(idem ? { idempotencyKey: idem } : {}), createdAt: now, updatedAt: now, runAt, lastSeq: 1 };
  }

  /** Hands the job to BullMQ. BullMQ's add is idempotent per job id. */
  async #dispatch(id: string, task: string, priority: number, delayMs: number): Promise<void> {
    await this.#queue.add(task, null, {
      jobId: id,
      delay: delayMs > 0 ? delayMs : undefined,
      // BullMQ runs a lower number first; ours runs a higher priority first. Every job gets one, so FIFO holds within a priority.
      priority: Math.min(MAX_BULL_PRIORITY, Math.max(1, 1_048_576 - Math.round(priority))),
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  async get(id: string): Promise<JobRecord | undefined> {
    this.#assertOpen();
    return hashToRecord(await this.#redis.hgetall(this.keys.job(id)));
  }

  async #mustGet(id: string): Promise<JobRecord> {
    const record = await this.get(id);
    if (!record) throw new NotFoundError(`no job has the id ${id}`, { code: 'TL_ERR_JOB_NOT_FOUND', details: { jobId: id } });
    return record;
  }

  /** Newest first. The cursor is the insertion order of the last job returned. */
  async list(q: ListQuery = {}): Promise<{ jobs: JobRecord[]; next?: string }> {
    this.#assertOpen();
    const limit = Math.min(LIST_MAX, Math.max(1, q.limit ?? 50));
    const key = q.task && q.state ? this.keys.taskState(q.task, q.state) : q.task ? this.keys.task(q.task) : q.state ? this.keys.state(q.state) : this.keys.all();
    const max = q.cursor ? `(${Number(q.cursor)}` : '+inf';
    if (q.cursor !== undefined && !/^\d+$/.test(q.cursor)) throw new TasklaneError('TL_ERR_VALIDATION', 'cursor is not one this server returned');
    const jobs: JobRecord[] = [];
    let upper = max;
    let next: string | undefined;
    // Index entries can outlive a removed record; skip them and read on until the page is full.
    for (let round = 0; round < 5 && jobs.length < limit; round++) {
      const page = (await this.#redis.zrevrangebyscore(key, upper, '-inf', 'WITHSCORES', 'LIMIT', 0, limit - jobs.length + 1)) as string[];
      const entries: Array<[string, string]> = [];
      for (let i = 0; i < page.length; i += 2) entries.push([page[i]!, page[i + 1]!]);
      const want = entries.slice(0, limit - jobs.length);
      const pipe = this.#redis.pipeline();
      for (const [id] of want) pipe.hgetall(this.keys.job(id));
      const rows = (await pipe.exec()) ?? [];
      rows.forEach(([err, h], i) => {
        if (err) throw err;
        const r = hashToRecord(h as Record<string, string>);
        // A record can change state between the index read and this read; keep the filter exact.
        if (r && (!q.state || r.state === q.state)) jobs.push(r);
        next = want[i]![1];
      });
      if (entries.length <= want.length) {
        next = undefined;
        break;
      }
      upper = `(${want[want.length - 1]![1]}`;
    }
    return next !== undefined && jobs.length >= limit ? { jobs, next } : { jobs };
  }

  async cancel(id: string): Promise<JobRecord> {
    this.#assertOpen();
    const res = (await this.#call(this.#redis, 'tlCancel', [this.keys.job(id), this.keys.events(id)], [id])) as string;
    if (res === 'missing') await this.#mustGet(id);
    if (res === 'cancelled') {
      // Best effort: if a worker holds it right now, its claim sees the cancelled record and drops it.
      await this.#queue.remove(id).catch(() => 0);
    } else if (res !== 'requested') {
      throw new JobError('TL_ERR_JOB_STATE', `job ${id} is already ${res} and cannot be cancelled`, { details: { jobId: id, state: res } });
    }
    return this.#mustGet(id);
  }

  async retry(id: string): Promise<JobRecord> {
    this.#assertOpen();
    const res = (await this.#call(this.#redis, 'tlRetry', [this.keys.job(id), this.keys.events(id)], [id])) as string;
    if (res === 'missing') await this.#mustGet(id);
    if (res !== 'ok') throw new JobError('TL_ERR_JOB_STATE', `job ${id} is ${res}; only dead or cancelled jobs can be retried`, { details: { jobId: id, state: res } });
    const record = await this.#mustGet(id);
    await this.#queue.remove(id).catch(() => 0);
    await this.#dispatch(id, record.task, record.priority, 0);
    return record;
  }

  // ── worker side ─────────────────────────────────────────────────────────

  /**
   * Takes the next job with a lease of `leaseMs` (the worker's lock duration). With `block`, waits
   * for one on Redis (up to a few seconds) instead of returning undefined at once.
   */
  async claim(workerId: string, options: { block?: boolean } = {}): Promise<Claim | undefined> {
    this.#assertOpen();
    const worker = this.#worker;
    if (!worker) throw new JobError('TL_ERR_JOB_STATE', 'this process runs no worker (jobs.worker is false)');
    for (let i = 0; i < 100; i++) {
      const token = `${workerId}:${randomUUID()}`;
      const job = (await worker.getNextJob(token, { block: options.block ?? false })) as Job | undefined;
      if (!job?.id) return undefined;
      const id = job.id;
      const res = (await this.#call(this.#work, 'tlClaimed', [this.keys.job(id), this.keys.events(id), this.keys.lock(id)], [id, token, workerId, Date.now() + this.#opts.leaseMs])) as
        | string
        | [string, string[]];
      if (Array.isArray(res)) {
        this.#held.set(id, { job, token });
        return { job: hashToRecord(flatToHash(res[1]))!, token };
      }
      if (res === 'lost') continue;
      // The record is final (cancelled while queued, finished before a crash, or out of attempts): BullMQ lets go of it.
      await job.moveToCompleted(null, token, false).catch((err: Error) => this.#report(err, `dropping job ${id}`));
    }
    return undefined;
  }

  /** Extends the lease; throws TL_ERR_JOB_LEASE_LOST when another worker holds it now. */
  async renew(id: string, token: string, leaseMs = this.#opts.leaseMs): Promise<{ cancelRequested: boolean }> {
    const held = this.#held.get(id);
    if (!held || held.token !== token) throw this.#leaseLost(id);
    const extended = await held.job.extendLock(token, leaseMs);
    if (!extended) throw this.#leaseLost(id);
    const flag = (await this.#call(this.#work, 'tlRenew', [this.keys.job(id), this.keys.events(id), this.keys.lock(id)], [token, Date.now() + leaseMs])) as number;
    if (flag < 0) throw this.#leaseLost(id);
    return { cancelRequested: flag === 1 };
  }

  /** Ends the attempt with `token`; a stale token is refused with TL_ERR_JOB_LEASE_LOST. */
  async finish(id: string, token: string, end: FinishOutcome): Promise<JobRecord> {
    const payload = end.outcome === 'succeeded' ? end.result : end.error;
    const runAt = end.outcome === 'retry' ? end.runAt : 0;
    const data =
      end.outcome === 'succeeded' ? { result: end.result ?? null } : end.outcome === 'retry' ? { error: end.error, runAt: end.runAt } : { error: end.error ?? null };
    const script = this.#call(this.#work, 'tlFinish', [this.keys.job(id), this.keys.events(id), this.keys.lock(id)], [
      id, token, end.outcome, JSON.stringify(payload ?? null), runAt, JSON.stringify(data),
    ]) as Promise<string | [string, string[]]>;
    const held = this.#held.get(id);
    if (held?.token === token) this.#held.delete(id);
    // The BullMQ step goes down the same socket right behind the record's: if the record refused the
    // token, BullMQ refuses it too (same lock), so sending both at once is safe and costs one round trip.
    // If only the BullMQ step fails, the lock expires and recovery or the next claim reconciles.
    const bull =
      held?.token === token
        ? Promise.resolve(end.outcome === 'retry' ? held.job.moveToDelayed(Math.max(runAt, Date.now()), token) : held.job.moveToCompleted(null, token, false))
        : Promise.resolve();
    const [res] = await Promise.all([script, bull.catch(() => {})]);
    if (!Array.isArray(res)) throw this.#leaseLost(id);
    return hashToRecord(flatToHash(res[1]))!;
  }

  /** Gives a held job back without counting the attempt against it (close, drain). */
  async release(id: string, token: string): Promise<void> {
    const held = this.#held.get(id);
    if (!held || held.token !== token) return;
    this.#held.delete(id);
    // The record keeps 'running' until the lock is gone; recovery then decides. Expire the lock now.
    await held.job.moveToWait(token).catch((err: Error) => this.#report(err, `releasing job ${id}`));
    await this.#recoverOne(id);
  }

  /** Called for every cancel request that reaches a job this process holds (any process may ask). */
  onCancelRequested(listener: (jobId: string) => void): () => void {
    this.#cancelListeners.add(listener);
    return () => this.#cancelListeners.delete(listener);
  }

  /**
   * Recovery sweep: running records whose lease is gone go back to the queue (or die when out of
   * attempts), and queued records that BullMQ never received (a crash between the two writes) are
   * dispatched again. BullMQ's own stalled checker runs on its timer; this covers the records.
   */
  async recoverExpired(): Promise<number> {
    this.#assertOpen();
    let moved = 0;
    const running = await this.#redis.zrange(this.keys.state('running'), 0, 999);
    const pipe = this.#redis.pipeline();
    for (const id of running) pipe.exists(this.keys.lock(id));
    const locks = (await pipe.exec()) ?? [];
    for (let i = 0; i < running.length; i++) {
      if (locks[i]?.[1] === 0 && (await this.#recoverOne(running[i]!)) !== 'alive') moved++;
    }
    const cutoff = Date.now() - 5_000;
    for (const state of ['queued', 'delayed'] as const) {
      const ids = await this.#redis.zrange(this.keys.state(state), 0, 999);
      const check = this.#redis.pipeline();
      for (const id of ids) check.exists(this.keys.bullJob(id)).hmget(this.keys.job(id), 'task', 'priority', 'runAt', 'updatedAt');
      const rows = (await check.exec()) ?? [];
      for (let i = 0; i < ids.length; i++) {
        const exists = rows[i * 2]?.[1];
        const [task, priority, runAt, updatedAt] = (rows[i * 2 + 1]?.[1] ?? []) as Array<string | null>;
        if (exists === 0 && task && Number(updatedAt) < cutoff) {
          await this.#dispatch(ids[i]!, task, Number(priority), Number(runAt) - Date.now());
          moved++;
        }
      }
    }
    return moved;
  }

  async #recoverOne(id: string): Promise<string> {
    return (await this.#call(this.#work, 'tlRecover', [this.keys.job(id), this.keys.events(id), this.keys.lock(id)], [id])) as string;
  }

  // ── events ──────────────────────────────────────────────────────────────

  /**
   * Appends a running attempt's events (progress, log) with seqs assigned here, after every event
   * already stored, whichever process wrote it. Refused (TL_ERR_JOB_LEASE_LOST) for a stale token.
   * Returns the last seq.
   */
  async appendEvents(id: string, token: string, events: ReadonlyArray<{ type: JobEvent['type']; data: unknown }>): Promise<number> {
    if (events.length === 0) return 0;
    const args: Array<string | number> = [token];
    for (const e of events) args.push(e.type, JSON.stringify(e.data ?? null));
    const seq = (await this.#call(this.#work, 'tlAppend', [this.keys.job(id), this.keys.events(id)], args)) as number;
    if (seq < 0) throw this.#leaseLost(id);
    return seq;
  }

  /** Stored events with seq > afterSeq. */
  async readEvents(id: string, afterSeq = 0): Promise<JobEvent[]> {
    this.#assertOpen();
    return this.#log.read(id, afterSeq);
  }

  /** The gap after `afterSeq`, then live events from any process, until the job's final event. */
  async subscribe(id: string, afterSeq = 0, opts: { signal?: AbortSignal } = {}): Promise<AsyncIterable<JobEvent>> {
    this.#assertOpen();
    const record = await this.#mustGet(id);
    if (FINAL.has(record.state) && record.lastSeq <= afterSeq) return (async function* () {})();
    return this.#follower.follow(id, afterSeq, { signal: opts.signal, isTerminal: (e) => FINAL.has(e.type as JobState) });
  }

  // ── lifecycle ───────────────────────────────────────────────────────────

  /** Closes every connection this engine opened; bounded even when Redis is down. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const bounded = (p: Promise<unknown>, ms: number) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, ms);
          p.catch(() => {}).finally(() => {
            clearTimeout(t);
            resolve();
          });
        });
      await this.#follower.close();
      if (this.#worker) {
        const w = this.#worker;
        await bounded(w.close(true), 2_000);
        await bounded(w.disconnect(), 500);
      }
      await bounded(this.#queue.close(), 2_000);
      await bounded(this.#queue.disconnect(), 500);
      await quit(this.#conn.subscriber, 500);
      await quit(this.#conn.work, 1_000);
      await quit(this.#conn.commands, 1_000);
    })();
    return this.#closing;
  }

  // ── helpers ─────────────────────────────────────────────────────────────

  #assertOpen(): void {
    if (this.#closing) throw new StoreError('TL_ERR_STORE_UNAVAILABLE', 'the Redis job engine is closed');
  }

  #leaseLost(id: string): JobError {
    return new JobError('TL_ERR_JOB_LEASE_LOST', `the lease on job ${id} was lost to another worker`, { details: { jobId: id } });
  }

  #report(err: Error, what: string): void {
    this.#opts.onError(new StoreError('TL_ERR_STORE_UNAVAILABLE', `${what}: ${err.message}`, { cause: err }));
  }

  async #call(client: Scripted, name: string, keys: string[], args: Array<string | number>, now = Date.now()): Promise<unknown> {
    try {
      return await client[name]!(...keys, this.keys.prefix, now, ...args);
    } catch (err) {
      throw new StoreError('TL_ERR_STORE_UNAVAILABLE', `redis: ${(err as Error).message}`, { cause: err });
    }
  }
}
