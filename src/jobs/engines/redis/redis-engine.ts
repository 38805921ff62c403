import { randomUUID } from 'node:crypto';
import { createRedisBackend, Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { JobError, NotFoundError, StoreError, TasklaneError, ValidationError } from '../../../errors.js';
import type { Claim, ClaimOptions, EngineEnqueueOptions, FinishOutcome, JobEngine, PendingEvent, PruneCut } from '../../engine.js';
import { FINAL_STATES, TERMINAL_EVENTS, type JobEvent, type JobRecord, type JobState, type ListQuery } from '../../types.js';
import { connect, quit, type RedisConnections } from './connections.js';
import { EventFollower } from './event-follower.js';
import { EventLog } from './event-log.js';
import { Keys, queueName } from './keys.js';
import { flatToHash, hashToRecord } from './records.js';
import { APPEND, CANCEL, CLAIMED, ENQUEUE, FINISH, PRUNE, RECOVER, RELEASE, RENEW, RETRY } from './scripts.js';

/**
 * The Redis engine: BullMQ dispatches jobs (one queue per task) and holds their leases — a BullMQ
 * lock is our lease, its token our fencing token, its stalled-job checker our recovery. Job records,
 * indexes and event streams are ours, changed by Lua scripts that check the token against BullMQ's
 * lock in the same step. The record is the truth: when BullMQ and a record disagree (a crash between
 * the two writes), the record wins at the next claim or recovery sweep.
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

const MAX_BULL_PRIORITY = 2_097_151;
/**
 * A worker asks for as many jobs as it has free slots, all at once; when the queue runs dry most
 * of those asks would each cost a BullMQ script for nothing. So: at most CLAIM_PARALLEL asks per
 * task in flight, and for DRAIN_HOLD_MS after one came back empty the others answer "none" at
 * once (a local enqueue ends the hold; jobs from elsewhere wait at most for the next poll).
 */
const CLAIM_PARALLEL = 4;
const DRAIN_HOLD_MS = 25;
/** How often recoverExpired() also looks for records BullMQ never received, in ms. */
const ORPHAN_SWEEP_MS = 10_000;
/** Longest wait for Redis in start() before going on not ready. */
const START_WAIT_MS = 5_000;
const LIST_MAX = 500;
/** Per-queue priority counter width in BullMQ's prioritized score (priority * 2^32 + counter). */
const PRIORITY_SHIFT = 0x100000000;

type Scripted = Redis & Record<string, (...args: Array<string | number>) => Promise<unknown>>;
type Flat = [string, string[]];

export class RedisJobEngine implements JobEngine {
  readonly kind = 'redis';
  readonly keys: Keys;
  readonly #opts: RedisEngineOptions;
  readonly #conn: RedisConnections;
  /** API commands: fail fast while Redis is down. */
  readonly #redis: Scripted;
  /** Worker commands: wait for Redis to come back. */
  readonly #work: Scripted;
  readonly #log: EventLog;
  readonly #follower: EventFollower;
  /** Producers and consumers, one per task, created on first use. */
  readonly #queues = new Map<string, Queue>();
  readonly #workers = new Map<string, Worker>();
  /** Jobs this process holds a lease on: id → BullMQ job, task and token. */
  readonly #held = new Map<string, { job: Job; task: string; token: string }>();
  readonly #cancelListeners = new Set<(jobId: string) => void>();
  readonly #report: (err: Error, what: string) => void;
  #rotate = 0;
  /** Per task: when BullMQ last had nothing to hand out (claims skip it for DRAIN_HOLD_MS). */
  readonly #drainedAt = new Map<string, number>();
  /** Per task: bumped by every local dispatch, so a claim that started before it cannot mark the task dry. */
  readonly #dispatches = new Map<string, number>();
  /** Per task: claims waiting for one of the CLAIM_PARALLEL slots. */
  readonly #claimSlots = new Map<string, { busy: number; waiting: Array<() => void> }>();
  #lastOrphanSweep = 0;
  #closing?: Promise<void>;
  #started?: Promise<void>;

  constructor(options: RedisEngineOptions) {
    this.#opts = options;
    this.keys = new Keys(options.prefix);
    this.#report = (err, what) =>
      options.onError(TasklaneError.isInstance(err) ? err : new StoreError('TL_ERR_STORE_UNAVAILABLE', `redis (${what}): ${err.message}`, { cause: err }));
    this.#conn = connect(options.url, this.#report);
    this.#redis = this.#conn.commands as Scripted;
    this.#work = this.#conn.work as Scripted;
    const scripts = {
      tlEnqueue: [ENQUEUE, 3], tlClaimed: [CLAIMED, 3], tlRenew: [RENEW, 3], tlFinish: [FINISH, 3], tlRelease: [RELEASE, 3],
      tlCancel: [CANCEL, 2], tlRetry: [RETRY, 2], tlRecover: [RECOVER, 3], tlAppend: [APPEND, 2], tlPrune: [PRUNE, 0],
    } as const;
    for (const client of [this.#redis, this.#work]) {
      for (const [name, [lua, numberOfKeys]] of Object.entries(scripts)) client.defineCommand(name, { lua, numberOfKeys });
    }
    this.#log = new EventLog(this.#conn.commands, options.prefix);
    this.#follower = new EventFollower(this.#conn.blocking, this.#conn.commands, (id) => this.keys.events(id), (err) => this.#report(err, 'events'));
    this.#conn.subscriber.on('message', (channel: string, id: string) => {
      if (channel !== this.keys.cancelChannel() || !this.#held.has(id)) return;
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
      const whenReady = (c: Redis) => (c.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => c.once('ready', () => resolve())));
      const subscribed = whenReady(this.#conn.subscriber).then(() => this.#conn.subscriber.subscribe(this.keys.cancelChannel()));
      subscribed.catch((err: Error) => this.#report(err, 'cancel subscription'));
      let timer: NodeJS.Timeout | undefined;
      const all = Promise.all([subscribed, ...Object.values(this.#conn).map((c) => whenReady(c as Redis))]).then(() => true);
      const ok = await Promise.race([all.catch(() => false), new Promise<false>((r) => (timer = setTimeout(() => r(false), START_WAIT_MS)))]);
      clearTimeout(timer);
      if (!ok) this.#report(new Error(`not reachable within ${START_WAIT_MS} ms; retrying in the background`), 'start');
    })();
    return this.#started;
  }

  ready(): true | string {
    if (this.#closing) return 'the redis job engine is closed';
    const down = Object.entries(this.#conn)
      .filter(([, c]) => (c as Redis).status !== 'ready')
      .map(([name, c]) => `${name}: ${(c as Redis).status}`);
    return down.length ? `redis not connected (${down.join(', ')})` : true;
  }

  // ── BullMQ plumbing ────────────────────────────────────────────────────

  // BullMQ shares our connections, so a record write and the BullMQ step after it go down one
  // socket in order: a worker never sees a job before its record, and the pair costs one round trip.
  #queue(task: string): Queue {
    let q = this.#queues.get(task);
    if (!q) {
      q = new Queue(queueName(task), { connection: this.#conn.commands, prefix: this.#opts.prefix });
      q.on('error', (err) => this.#report(err, 'queue'));
      this.#queues.set(task, q);
    }
    return q;
  }

  #worker(task: string): Worker {
    let w = this.#workers.get(task);
    if (!w) {
      w = new Worker(
        queueName(task),
        null,
        {
          connection: this.#conn.work,
          prefix: this.#opts.prefix,
          autorun: false,
          lockDuration: this.#opts.leaseMs,
          // Leases are renewed by the job system (renew()), so a stuck lane cannot keep a dead job alive.
          skipLockRenewal: true,
          stalledInterval: this.#opts.recoverEveryMs ?? Math.max(250, Math.floor(this.#opts.leaseMs / 2)),
          // A stalled job goes back to wait every time; whether the attempt counts is the record's call.
          maxStalledCount: 1_000_000,
        },
        // Share the work connection; claims never block on Redis, so no blocking connection either.
        (name, opts) => createRedisBackend(name, opts, { blocking: false, withBlockingConnection: false }),
      );
      w.on('error', (err) => this.#report(err, 'worker'));
      w.on('stalled', (jobId) => {
        this.#recoverOne(task, jobId).catch((err) => this.#report(err as Error, 'recover'));
      });
      void w.startStalledCheckTimer().catch((err) => this.#report(err as Error, 'stalled checker'));
      this.#workers.set(task, w);
    }
    return w;
  }

  /** Hands the job to BullMQ. BullMQ's add is idempotent per job id. */
  #dispatch(id: string, task: string, priority: number, delayMs: number): Promise<unknown> {
    // Bumped when the add is sent and again once it landed: a claim that overlaps it in any way
    // cannot mark the task dry.
    const bump = () => {
      this.#drainedAt.delete(task);
      this.#dispatches.set(task, (this.#dispatches.get(task) ?? 0) + 1);
    };
    if (delayMs <= 0) bump();
    const added = this.#queue(task).add(task, null, {
      jobId: id,
      delay: delayMs > 0 ? delayMs : undefined,
      // BullMQ runs a lower number first, tasklane a higher priority first. Every job gets one, so FIFO holds within a priority.
      priority: Math.min(MAX_BULL_PRIORITY, Math.max(1, 1_048_576 - Math.round(priority))),
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: true,
    });
    return delayMs <= 0 ? added.finally(bump) : added;
  }

  // ── queue side ──────────────────────────────────────────────────────────

  async enqueue(task: string, input: unknown, opts: EngineEnqueueOptions): Promise<JobRecord> {
    this.#assertOpen();
    const now = Date.now();
    const id = randomUUID();
    const delayMs = Math.max(0, opts.delayMs ?? 0);
    const runAt = now + delayMs;
    const state: JobState = delayMs > 0 ? 'delayed' : 'queued';
    const priority = opts.priority ?? 0;
    const idem = opts.idempotencyKey ?? '';
    const inputJson = JSON.stringify(input ?? null);
    const script = this.#call(this.#redis, 'tlEnqueue', [this.keys.job(id), this.keys.events(id), idem ? this.keys.idem(idem) : this.keys.job(id)], [
      id, task, inputJson, opts.maxAttempts, priority, idem, runAt, state, '{}',
    ], now) as Promise<[number, string, string[]?]>;
    if (idem) {
      // The key may already name another job: wait for the answer before dispatching anything.
      const [created, actualId, flat] = await script;
      if (!created) return hashToRecord(flatToHash(flat ?? []))!;
      await this.#bull(this.#dispatch(actualId, task, priority, delayMs));
    } else {
      // Same socket, in order: the record exists before BullMQ can hand the job out.
      script.catch(() => {});
      await Promise.all([script, this.#bull(this.#dispatch(id, task, priority, delayMs))]);
    }
    const record: JobRecord = { id, task, state, input: JSON.parse(inputJson), attempt: 0, maxAttempts: opts.maxAttempts, priority, createdAt: now, updatedAt: now, runAt, lastSeq: 1 };
    if (idem) record.idempotencyKey = idem;
    return record;
  }

  async get(id: string): Promise<JobRecord | undefined> {
    this.#assertOpen();
    try {
      return hashToRecord(await this.#redis.hgetall(this.keys.job(id)));
    } catch (err) {
      throw this.#storeError(err);
    }
  }

  async #mustGet(id: string): Promise<JobRecord> {
    const record = await this.get(id);
    if (!record) throw new NotFoundError(`no job has the id ${id}`, { code: 'TL_ERR_JOB_NOT_FOUND', details: { jobId: id } });
    return record;
  }

  /** Newest first. The cursor is the insertion order of the last job returned. */
  async list(q: ListQuery = {}): Promise<{ jobs: JobRecord[]; next?: string }> {
    this.#assertOpen();
    if (q.cursor !== undefined && !/^\d+$/.test(q.cursor)) throw new ValidationError('cursor: not one this server returned (pass the `next` of the previous page)');
    const limit = Math.min(LIST_MAX, Math.max(1, q.limit ?? 50));
    const key = q.task && q.state ? this.keys.taskState(q.task, q.state) : q.task ? this.keys.task(q.task) : q.state ? this.keys.state(q.state) : this.keys.all();
    const jobs: JobRecord[] = [];
    let upper = q.cursor ? `(${q.cursor}` : '+inf';
    let next: string | undefined;
    try {
      // Index entries can run ahead of a record's state (read between two steps); re-check and read on.
      for (let round = 0; round < 5 && jobs.length < limit; round++) {
        const page = await this.#redis.zrevrangebyscore(key, upper, '-inf', 'WITHSCORES', 'LIMIT', 0, limit - jobs.length + 1);
        const entries: Array<[string, string]> = [];
        for (let i = 0; i < page.length; i += 2) entries.push([page[i]!, page[i + 1]!]);
        const want = entries.slice(0, limit - jobs.length);
        const pipe = this.#redis.pipeline();
        for (const [id] of want) pipe.hgetall(this.keys.job(id));
        const rows = (await pipe.exec()) ?? [];
        rows.forEach(([err, h], i) => {
          if (err) throw err;
          const r = hashToRecord(h as Record<string, string>);
          if (r && (!q.state || r.state === q.state)) jobs.push(r);
          next = want[i]![1];
        });
        if (entries.length <= want.length) {
          next = undefined;
          break;
        }
        upper = `(${want[want.length - 1]![1]}`;
      }
    } catch (err) {
      throw this.#storeError(err);
    }
    return next !== undefined && jobs.length >= limit ? { jobs, next } : { jobs };
  }

  async cancel(id: string): Promise<JobRecord> {
    this.#assertOpen();
    const res = (await this.#call(this.#redis, 'tlCancel', [this.keys.job(id), this.keys.events(id)], [id])) as string;
    if (res === 'missing') await this.#mustGet(id);
    const record = await this.#mustGet(id);
    if (res === 'now') {
      // Best effort: if a worker holds it right now, its claim sees the cancelled record and drops it.
      await this.#queue(record.task).remove(id).catch(() => 0);
    } else if (res !== 'requested') {
      throw new JobError('TL_ERR_JOB_STATE', `job ${id} is already ${res} and cannot be cancelled`, { details: { jobId: id, state: res } });
    }
    return record;
  }

  async retry(id: string): Promise<JobRecord> {
    this.#assertOpen();
    const res = (await this.#call(this.#redis, 'tlRetry', [this.keys.job(id), this.keys.events(id)], [id])) as string;
    if (res === 'missing') await this.#mustGet(id);
    if (res !== 'ok') throw new JobError('TL_ERR_JOB_STATE', `job ${id} is ${res}; only dead or cancelled jobs can be retried`, { details: { jobId: id, state: res } });
    const record = await this.#mustGet(id);
    await this.#queue(record.task).remove(id).catch(() => 0);
    await this.#bull(this.#dispatch(id, record.task, record.priority, 0));
    return record;
  }

  // ── worker side ─────────────────────────────────────────────────────────

  async claim(workerId: string, opts: ClaimOptions): Promise<Claim | undefined> {
    this.#assertOpen();
    if (opts.tasks.length === 0) return undefined;
    for (const task of await this.#claimOrder(opts.tasks)) {
      const claim = await this.#claimFrom(task, workerId, opts.leaseMs);
      if (claim) return claim;
    }
    return undefined;
  }

  /**
   * Tasks in the order to try: the one whose best waiting job has the highest priority first (one
   * pipelined peek at each queue's prioritized set), then the rest in rotation so none starves.
   */
  async #claimOrder(tasks: readonly string[]): Promise<string[]> {
    const start = this.#rotate++ % tasks.length;
    const rotated = [...tasks.slice(start), ...tasks.slice(0, start)];
    if (rotated.length === 1) return rotated;
    const pipe = this.#work.pipeline();
    for (const t of rotated) pipe.zrange(this.keys.prioritized(t), 0, 0, 'WITHSCORES');
    const rows = (await pipe.exec()) ?? [];
    const best = rotated
      .map((task, i) => {
        const r = rows[i]?.[1] as string[] | undefined;
        return { task, i, score: r && r.length === 2 ? Math.floor(Number(r[1]) / PRIORITY_SHIFT) : Number.POSITIVE_INFINITY };
      })
      .sort((a, b) => a.score - b.score || a.i - b.i);
    return best.map((b) => b.task);
  }

  #drained(task: string): boolean {
    const at = this.#drainedAt.get(task);
    return at !== undefined && Date.now() - at < DRAIN_HOLD_MS;
  }

  async #claimFrom(task: string, workerId: string, leaseMs: number): Promise<Claim | undefined> {
    if (this.#drained(task)) return undefined;
    let slot = this.#claimSlots.get(task);
    if (!slot) this.#claimSlots.set(task, (slot = { busy: 0, waiting: [] }));
    if (slot.busy >= CLAIM_PARALLEL) await new Promise<void>((resolve) => slot!.waiting.push(resolve));
    else slot.busy++;
    try {
      if (this.#drained(task)) return undefined;
      return await this.#claimOne(task, workerId, leaseMs);
    } finally {
      // Hand the slot straight to the next waiter (busy stays the same), or free it.
      const next = slot.waiting.shift();
      if (next) next();
      else slot.busy--;
    }
  }

  async #claimOne(task: string, workerId: string, leaseMs: number): Promise<Claim | undefined> {
    const worker = this.#worker(task);
    for (let i = 0; i < 50; i++) {
      const token = `${workerId}:${randomUUID()}`;
      const seen = this.#dispatches.get(task) ?? 0;
      const job = (await this.#bull(worker.getNextJob(token, { block: false }))) as Job | undefined;
      if (!job?.id) {
        if ((this.#dispatches.get(task) ?? 0) === seen) this.#drainedAt.set(task, Date.now());
        return undefined;
      }
      const id = job.id;
      const res = (await this.#call(this.#work, 'tlClaimed', [this.keys.job(id), this.keys.events(id), this.keys.lock(task, id)], [id, token, workerId, leaseMs])) as string | Flat;
      if (Array.isArray(res)) {
        this.#held.set(id, { job, task, token });
        return { job: hashToRecord(flatToHash(res[1]))!, token };
      }
      if (res === 'lost') continue;
      // The record is final (cancelled while queued, finished before a crash, out of attempts) or gone: BullMQ lets go of it.
      await job.moveToCompleted(null, token, false).catch((err: Error) => this.#report(err, `dropping job ${id}`));
    }
    return undefined;
  }

  async renew(id: string, token: string, leaseMs: number): Promise<{ cancelRequested: boolean }> {
    const held = this.#held.get(id);
    if (!held || held.token !== token) throw this.#leaseLost(id);
    const extended = await this.#bull(held.job.extendLock(token, leaseMs));
    if (!extended) throw this.#leaseLost(id);
    const flag = (await this.#call(this.#work, 'tlRenew', [this.keys.job(id), this.keys.events(id), this.keys.lock(held.task, id)], [token, Date.now() + leaseMs])) as number;
    if (flag < 0) throw this.#leaseLost(id);
    return { cancelRequested: flag === 1 };
  }

  async finish(id: string, token: string, end: FinishOutcome): Promise<JobRecord> {
    const held = this.#held.get(id);
    const task = held?.task ?? (await this.#mustGet(id)).task;
    const payload = end.outcome === 'succeeded' ? end.result : end.error;
    const runAt = end.outcome === 'retry' ? end.runAt : 0;
    const data =
      end.outcome === 'succeeded' ? { result: end.result ?? null } : end.outcome === 'retry' ? { error: end.error, runAt: end.runAt } : end.error ? { error: end.error } : {};
    const script = this.#call(this.#work, 'tlFinish', [this.keys.job(id), this.keys.events(id), this.keys.lock(task, id)], [
      id, token, end.outcome, JSON.stringify(payload ?? null), runAt, JSON.stringify(data),
    ]) as Promise<string | Flat>;
    script.catch(() => {});
    const mine = held?.token === token;
    if (mine) this.#held.delete(id);
    // The BullMQ step goes down the same socket right behind the record's: if the record refused the
    // token, BullMQ refuses it too (same lock), so sending both at once is safe and costs one round
    // trip. If only the BullMQ step fails, the lock expires and recovery or the next claim reconciles.
    const bull = mine
      ? Promise.resolve(end.outcome === 'retry' ? held.job.moveToDelayed(Math.max(runAt, Date.now()), token) : held.job.moveToCompleted(null, token, false))
      : Promise.resolve();
    const [res] = await Promise.all([script, bull.catch(() => {})]);
    if (!Array.isArray(res)) throw this.#leaseLost(id);
    return hashToRecord(flatToHash(res[1]))!;
  }

  async release(id: string, token: string): Promise<JobRecord | undefined> {
    const held = this.#held.get(id);
    const task = held?.task ?? (await this.get(id))?.task;
    if (!task) return undefined;
    const script = this.#call(this.#work, 'tlRelease', [this.keys.job(id), this.keys.events(id), this.keys.lock(task, id)], [id, token]) as Promise<string | Flat>;
    script.catch(() => {});
    const mine = held?.token === token;
    if (mine) this.#held.delete(id);
    const [res] = await Promise.all([script.catch(() => undefined), Promise.resolve()]);
    if (!Array.isArray(res)) return undefined;
    if (mine) {
      // Back in BullMQ's wait list for another worker, or out of BullMQ when the release ended the job.
      const step = res[0] === 'ok' ? held.job.moveToWait(token) : held.job.moveToCompleted(null, token, false);
      await Promise.resolve(step).catch((err: Error) => this.#report(err, `releasing job ${id}`));
    }
    return hashToRecord(flatToHash(res[1]));
  }

  onCancelRequested(listener: (jobId: string) => void): () => void {
    this.#cancelListeners.add(listener);
    return () => this.#cancelListeners.delete(listener);
  }

  /**
   * Running records whose BullMQ lock is gone go back to the queue (or end dead or cancelled);
   * queued records BullMQ never received (a crash between the two writes) are dispatched again.
   * BullMQ's own stalled checker moves its side on its timer; this sweep covers the records.
   */
  async prune(cut: PruneCut, limit: number): Promise<number> {
    this.#assertOpen();
    const n = Math.max(0, Math.floor(limit));
    if (n === 0 || (cut.succeededBefore <= 0 && cut.failedBefore <= 0)) return 0;
    return (await this.#call(this.#redis, 'tlPrune', [], [Math.max(0, cut.succeededBefore), Math.max(0, cut.failedBefore), n])) as number;
  }

  async recoverExpired(): Promise<number> {
    this.#assertOpen();
    let moved = 0;
    try {
      const running = await this.#work.zrange(this.keys.state('running'), 0, 999);
      const tasks = running.length ? await this.#tasksOf(running) : [];
      const pipe = this.#work.pipeline();
      running.forEach((id, i) => pipe.exists(this.keys.lock(tasks[i] ?? '', id)));
      const locks = (await pipe.exec()) ?? [];
      for (let i = 0; i < running.length; i++) {
        if (tasks[i] && locks[i]?.[1] === 0 && (await this.#recoverOne(tasks[i]!, running[i]!, true)) !== 'alive') moved++;
      }
      // Orphans are rare (a crash between two writes): look for them now and then, not on every sweep.
      if (Date.now() - this.#lastOrphanSweep < ORPHAN_SWEEP_MS) return moved;
      this.#lastOrphanSweep = Date.now();
      const cutoff = Date.now() - 5_000;
      for (const state of ['queued', 'delayed'] as const) {
        const ids = await this.#work.zrange(this.keys.state(state), 0, 999);
        if (ids.length === 0) continue;
        const rows = await this.#rows(ids, ['task', 'priority', 'runAt', 'updatedAt']);
        const check = this.#work.pipeline();
        ids.forEach((id, i) => check.exists(this.keys.bullJob(rows[i]![0] ?? '', id)));
        const exists = (await check.exec()) ?? [];
        for (let i = 0; i < ids.length; i++) {
          const [task, priority, runAt, updatedAt] = rows[i]!;
          if (task && exists[i]?.[1] === 0 && Number(updatedAt) < cutoff) {
            await this.#bull(this.#dispatch(ids[i]!, task, Number(priority), Number(runAt) - Date.now()));
            moved++;
          }
        }
      }
    } catch (err) {
      throw this.#storeError(err);
    }
    return moved;
  }

  async #tasksOf(ids: string[]): Promise<Array<string | undefined>> {
    return (await this.#rows(ids, ['task'])).map((r) => r[0] ?? undefined);
  }

  async #rows(ids: string[], fields: string[]): Promise<Array<Array<string | null>>> {
    const pipe = this.#work.pipeline();
    for (const id of ids) pipe.hmget(this.keys.job(id), ...fields);
    const res = (await pipe.exec()) ?? [];
    return res.map(([err, v]) => {
      if (err) throw err;
      return v as Array<string | null>;
    });
  }

  /**
   * Recovers one record whose lock is gone, then brings BullMQ in line at once (its stalled checker
   * needs two passes): the job is removed and, when it goes back to the queue, added again under
   * the same id. Remove-then-add from several processes always ends with one job, and BullMQ refuses
   * to remove a job someone has locked again in the meantime.
   */
  async #recoverOne(task: string, id: string, moveBull = false): Promise<string> {
    const res = (await this.#call(this.#work, 'tlRecover', [this.keys.job(id), this.keys.events(id), this.keys.lock(task, id)], [id])) as string;
    if (res === 'alive' || !moveBull) {
      if (res === 'dead' || res === 'cancelled') await this.#queue(task).remove(id).catch(() => 0);
      return res;
    }
    const removed = await this.#queue(task).remove(id).catch(() => -1);
    if (res === 'queued' && removed !== -1) {
      const [priority] = (await this.#rows([id], ['priority']))[0] ?? [];
      await this.#bull(this.#dispatch(id, task, Number(priority ?? 0), 0));
    }
    return res;
  }

  // ── events ──────────────────────────────────────────────────────────────

  async appendEvents(id: string, token: string, events: readonly PendingEvent[]): Promise<void> {
    if (events.length === 0) return;
    const args: Array<string | number> = [token];
    for (const e of events) args.push(e.seq, e.type, JSON.stringify(e.data ?? null), e.at, e.attempt ?? '');
    const last = (await this.#call(this.#work, 'tlAppend', [this.keys.job(id), this.keys.events(id)], args)) as number;
    if (last === -1) throw this.#leaseLost(id);
    if (last < -1) {
      throw new JobError('TL_ERR_JOB_STATE', `events for job ${id} start at seq ${events[0]!.seq} but the stream ends at ${-2 - last}`, { details: { jobId: id } });
    }
  }

  async readEvents(id: string, fromSeq: number, limit?: number): Promise<JobEvent[]> {
    this.#assertOpen();
    try {
      return await this.#log.read(id, fromSeq, limit);
    } catch (err) {
      throw this.#storeError(err);
    }
  }

  /**
   * The stored events after `fromSeq`, then live ones written by any process sharing this Redis,
   * until the job's terminal event. One XREAD BLOCK connection serves every follower of the process.
   */
  async follow(id: string, fromSeq: number, opts: { signal?: AbortSignal } = {}): Promise<AsyncIterable<JobEvent>> {
    this.#assertOpen();
    const record = await this.#mustGet(id);
    if (FINAL_STATES.has(record.state) && record.lastSeq <= fromSeq) return (async function* () {})();
    return this.#follower.follow(id, fromSeq, { signal: opts.signal, isTerminal: (e) => TERMINAL_EVENTS.has(e.type) });
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
      await Promise.all([...this.#workers.values()].map((w) => bounded(w.close(true), 2_000).then(() => bounded(w.disconnect(), 500))));
      await Promise.all([...this.#queues.values()].map((q) => bounded(q.close(), 2_000)));
      await quit(this.#conn.subscriber, 500);
      await quit(this.#conn.work, 1_000);
      await quit(this.#conn.commands, 1_000);
    })();
    return this.#closing;
  }

  // ── helpers ─────────────────────────────────────────────────────────────

  #assertOpen(): void {
    if (this.#closing) throw new StoreError('TL_ERR_STORE_UNAVAILABLE', 'the redis job engine is closed');
  }

  #leaseLost(id: string): JobError {
    return new JobError('TL_ERR_JOB_LEASE_LOST', `the lease on job ${id} was lost to another worker`, { details: { jobId: id } });
  }

  #storeError(err: unknown): TasklaneError {
    if (TasklaneError.isInstance(err)) return err;
    return new StoreError('TL_ERR_STORE_UNAVAILABLE', `redis: ${(err as Error).message}`, { cause: err });
  }

  /** A BullMQ call, its failure typed as a store error. */
  async #bull<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      throw this.#storeError(err);
    }
  }

  async #call(client: Scripted, name: string, keys: string[], args: Array<string | number>, now = Date.now()): Promise<unknown> {
    try {
      return await client[name]!(...keys, this.keys.prefix, now, ...args);
    } catch (err) {
      throw this.#storeError(err);
    }
  }
}
