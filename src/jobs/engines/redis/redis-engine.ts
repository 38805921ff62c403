import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { JobError, NotFoundError, StoreError, TasklaneError, ValidationError } from '../../../errors.js';
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
import {
  FINAL_STATES,
  JOB_STATES,
  TERMINAL_EVENTS,
  type JobEvent,
  type JobRecord,
  type JobState,
  type ListQuery,
  type WaitFor,
} from '../../types.js';
import type { Job } from 'bullmq';
import { connect, quit, type RedisConnections } from './connections.js';
import { EventFollower } from './event-follower.js';
import { EventLog } from './event-log.js';
import { Keys } from './keys.js';
import { flatToHash, hashToRecord } from './records.js';
import { bull, callScript, storeError, type Scripted } from './common.js';
import { BullDispatch } from './dispatch.js';
import { Recovery } from './recovery.js';
import { loadScript, SCRIPTS } from './scripts.js';
import { assertKnown, REDIS_FORMAT, type FormatAnswer } from './format.js';
import { RedisWorkflows } from './workflow.js';

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
const STATES: readonly JobState[] = JOB_STATES;
const LIST_MAX = 500;
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
  /** Jobs this process holds a lease on: id → BullMQ job, task and token. */
  readonly #held = new Map<string, { job: Job; task: string; token: string }>();
  readonly #cancelListeners = new Set<(jobId: string) => void>();
  readonly #report: (err: Error, what: string) => void;
  readonly #bullmq: BullDispatch;
  readonly #recovery: Recovery;
  readonly #wf: RedisWorkflows;
  #closing?: Promise<void>;
  #started?: Promise<void>;
  /** Set when Redis came up after start() holding a newer format: every call refuses. */
  #formatError?: TasklaneError;

  constructor(options: RedisEngineOptions) {
    this.#opts = options;
    this.keys = new Keys(options.prefix);
    this.#report = (err, what) =>
      options.onError(
        TasklaneError.isInstance(err) ? err : new StoreError('TL_ERR_STORE_UNAVAILABLE', `redis (${what}): ${err.message}`, { cause: err }),
      );
    this.#conn = connect(options.url, this.#report);
    this.#redis = this.#conn.commands as Scripted;
    this.#work = this.#conn.work as Scripted;
    for (const client of [this.#redis, this.#work]) {
      for (const [name, file] of Object.entries(SCRIPTS)) {
        const { lua, numberOfKeys } = loadScript(file);
        client.defineCommand(name, { lua, numberOfKeys });
      }
    }
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
      held: (id) => this.#held.get(id),
      drop: (id) => this.#held.delete(id),
      get: (id) => this.get(id),
      report: this.#report,
    });
    this.#log = new EventLog(this.#conn.commands, options.prefix);
    this.#follower = new EventFollower(
      this.#conn.blocking,
      this.#conn.commands,
      (id) => this.keys.events(id),
      (err) => this.#report(err, 'events'),
    );
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
      const whenReady = (c: Redis) =>
        c.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => c.once('ready', () => resolve()));
      const subscribed = whenReady(this.#conn.subscriber).then(() => this.#conn.subscriber.subscribe(this.keys.cancelChannel()));
      subscribed.catch((err: Error) => this.#report(err, 'cancel subscription'));
      let timer: NodeJS.Timeout | undefined;
      const all = Promise.all([subscribed, ...Object.values(this.#conn).map((c) => whenReady(c as Redis))]).then(() => true);
      const ok = await Promise.race([
        all.catch(() => false),
        new Promise<false>((r) => (timer = setTimeout(() => r(false), START_WAIT_MS))),
      ]);
      clearTimeout(timer);
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
    const script = this.#call(
      this.#redis,
      'tlEnqueue',
      [this.keys.job(id), this.keys.events(id), idem ? this.keys.idem(idem) : this.keys.job(id)],
      [
        id,
        task,
        inputJson,
        opts.maxAttempts,
        priority,
        idem,
        runAt,
        state,
        '{}',
        opts.owner?.key ?? '',
        opts.owner?.tenant ?? '',
        opts.parentId ?? '',
      ],
      now,
    ) as Promise<[number, string, string[]?]>;
    if (idem) {
      // The key may already name another job: wait for the answer before dispatching anything.
      const [created, actualId, flat] = await script;
      if (!created) return hashToRecord(flatToHash(flat ?? []))!;
      await this.#bullmq.dispatch(actualId, task, priority, delayMs);
    } else {
      // Same socket, in order: the record exists before BullMQ can hand the job out.
      script.catch(() => {});
      await Promise.all([script, this.#bullmq.dispatch(id, task, priority, delayMs)]);
    }
    const record: JobRecord = {
      id,
      task,
      state,
      input: JSON.parse(inputJson),
      attempt: 0,
      maxAttempts: opts.maxAttempts,
      priority,
      createdAt: now,
      updatedAt: now,
      runAt,
      lastSeq: 1,
    };
    if (idem) record.idempotencyKey = idem;
    if (opts.parentId) record.parentId = opts.parentId;
    if (opts.owner)
      record.owner = opts.owner.tenant !== undefined ? { key: opts.owner.key, tenant: opts.owner.tenant } : { key: opts.owner.key };
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
    if (q.cursor !== undefined && !/^\d+$/.test(q.cursor))
      throw new ValidationError('cursor: not one this server returned (pass the `next` of the previous page)');
    const limit = Math.min(LIST_MAX, Math.max(1, q.limit ?? 50));
    const owner = q.owner && (q.owner.key !== undefined || q.owner.tenant !== undefined) ? q.owner : undefined;
    // An owner's listing walks that owner's index and filters task and state as it reads.
    // Without a state filter (and no owner), the page is merged from the six per-state indexes
    // (of the task, or of all tasks): no index of every job, so a job costs two index entries.
    const keys = owner
      ? [owner.key !== undefined ? this.keys.owner(owner.key) : this.keys.tenant(owner.tenant!)]
      : q.state
        ? [q.task ? this.keys.taskState(q.task, q.state) : this.keys.state(q.state)]
        : STATES.map((st) => (q.task ? this.keys.taskState(q.task, st) : this.keys.state(st)));
    const keep = (r: JobRecord): boolean =>
      (!q.state || r.state === q.state) &&
      (!owner ||
        ((owner.key === undefined || r.owner?.key === owner.key) &&
          (owner.tenant === undefined || r.owner?.tenant === owner.tenant) &&
          (!q.task || r.task === q.task)));
    const jobs: JobRecord[] = [];
    let upper = q.cursor ? `(${q.cursor}` : '+inf';
    let next: string | undefined;
    try {
      // Index entries can run ahead of a record's state (read between two steps); re-check and read on.
      for (let round = 0; round < (owner ? 20 : 5) && jobs.length < limit; round++) {
        const entries = await this.#newest(keys, upper, limit - jobs.length + 1);
        const want = entries.slice(0, limit - jobs.length);
        const pipe = this.#redis.pipeline();
        for (const [id] of want) pipe.hgetall(this.keys.job(id));
        const rows = (await pipe.exec()) ?? [];
        rows.forEach(([err, h], i) => {
          if (err) throw err;
          const r = hashToRecord(h as Record<string, string>);
          if (r && keep(r)) jobs.push(r);
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
    // An owner's page may come back short after its rounds with more to read: the cursor says so.
    return next !== undefined && (jobs.length >= limit || owner) ? { jobs, next } : { jobs };
  }

  /**
   * The `n` newest entries (by insertion order, below `upper`) across the index keys, as
   * [id, ord]. Several keys are read in one MULTI, so a job moving between them meanwhile is seen once.
   */
  async #newest(keys: readonly string[], upper: string, n: number): Promise<Array<[string, string]>> {
    const multi = keys.length === 1 ? this.#redis.pipeline() : this.#redis.multi();
    for (const key of keys) multi.zrevrangebyscore(key, upper, '-inf', 'WITHSCORES', 'LIMIT', 0, n);
    const entries: Array<[string, string]> = [];
    for (const [err, page] of (await multi.exec()) ?? []) {
      if (err) throw err;
      const flat = page as string[];
      for (let i = 0; i < flat.length; i += 2) entries.push([flat[i]!, flat[i + 1]!]);
    }
    if (keys.length > 1) entries.sort((a, b) => Number(b[1]) - Number(a[1]));
    return entries.slice(0, n);
  }

  /** Index sizes (ZCARD), one pipelined round trip. No per-owner counters: undefined with an owner filter. */
  async counts(tasks: readonly string[] = [], owner?: ListQuery['owner']): Promise<JobCounts | undefined> {
    this.#assertOpen();
    if (owner && (owner.key !== undefined || owner.tenant !== undefined)) return undefined;
    const pipe = this.#redis.pipeline();
    for (const st of STATES) pipe.zcard(this.keys.state(st));
    for (const t of tasks) for (const st of STATES) pipe.zcard(this.keys.taskState(t, st));
    let rows: Array<[Error | null, unknown]>;
    try {
      rows = ((await pipe.exec()) ?? []) as Array<[Error | null, unknown]>;
    } catch (err) {
      throw this.#storeError(err);
    }
    const at = (i: number) => {
      const [err, v] = rows[i] ?? [new Error('no answer'), 0];
      if (err) throw this.#storeError(err);
      return Number(v);
    };
    const states = Object.fromEntries(STATES.map((st, i) => [st, at(i)])) as Record<JobState, number>;
    const byTask: JobCounts['tasks'] = {};
    tasks.forEach((t, ti) => {
      const c: Partial<Record<JobState, number>> = {};
      STATES.forEach((st, si) => {
        const n = at(STATES.length * (ti + 1) + si);
        if (n > 0) c[st] = n;
      });
      byTask[t] = c;
    });
    return { states, tasks: byTask };
  }

  async cancel(id: string): Promise<JobRecord> {
    this.#assertOpen();
    const reply = (await this.#call(this.#redis, 'tlCancel', [this.keys.job(id), this.keys.events(id)], [id])) as
      | string
      | [string, string[]];
    // A cancel that ended a child may have woken its parent (see cancel.lua).
    const res = Array.isArray(reply) ? reply[0] : reply;
    if (Array.isArray(reply)) await this.#wf.dispatchWoken(reply[1]);
    if (res === 'missing') await this.#mustGet(id);
    const record = await this.#mustGet(id);
    if (res === 'now') {
      // Best effort: if a worker holds it right now, its claim sees the cancelled record and drops it.
      await this.#bullmq.remove(record.task, id);
    } else if (res !== 'requested') {
      throw new JobError('TL_ERR_JOB_STATE', `job ${id} is already ${res} and cannot be cancelled`, { details: { jobId: id, state: res } });
    }
    return record;
  }

  async retry(id: string): Promise<JobRecord> {
    this.#assertOpen();
    const res = (await this.#call(this.#redis, 'tlRetry', [this.keys.job(id), this.keys.events(id)], [id])) as string;
    if (res === 'missing') await this.#mustGet(id);
    if (res !== 'ok')
      throw new JobError('TL_ERR_JOB_STATE', `job ${id} is ${res}; only dead or cancelled jobs can be retried`, {
        details: { jobId: id, state: res },
      });
    const record = await this.#mustGet(id);
    await this.#bullmq.remove(record.task, id);
    await this.#bullmq.dispatch(id, record.task, record.priority, 0);
    return record;
  }

  // ── worker side ─────────────────────────────────────────────────────────

  async claim(workerId: string, opts: ClaimOptions): Promise<Claim | undefined> {
    this.#assertOpen();
    if (opts.tasks.length === 0) return undefined;
    for (const task of await this.#bullmq.claimOrder(opts.tasks)) {
      const claim = await this.#bullmq.throttled(task, (next) => this.#claimOne(task, next, workerId, opts.leaseMs));
      if (claim) return claim;
    }
    return undefined;
  }

  async #claimOne(
    task: string,
    next: (token: string) => Promise<Job | undefined>,
    workerId: string,
    leaseMs: number,
  ): Promise<Claim | undefined> {
    for (let i = 0; i < 50; i++) {
      const token = `${workerId}:${randomUUID()}`;
      const job = await next(token);
      if (!job) return undefined;
      const id = job.id!;
      const res = (await this.#call(
        this.#work,
        'tlClaimed',
        [this.keys.job(id), this.keys.events(id), this.keys.lock(task, id)],
        [id, token, workerId, leaseMs],
      )) as string | Flat;
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
    const extended = await bull(held.job.extendLock(token, leaseMs));
    if (!extended) throw this.#leaseLost(id);
    const flag = (await this.#call(
      this.#work,
      'tlRenew',
      [this.keys.job(id), this.keys.events(id), this.keys.lock(held.task, id)],
      [token, Date.now() + leaseMs],
    )) as number;
    if (flag < 0) throw this.#leaseLost(id);
    return { cancelRequested: flag === 1 };
  }

  async finish(id: string, token: string, end: FinishOutcome): Promise<JobRecord> {
    const held = this.#held.get(id);
    const task = held?.task ?? (await this.#mustGet(id)).task;
    const payload = end.outcome === 'succeeded' ? end.result : end.error;
    const runAt = end.outcome === 'retry' ? end.runAt : 0;
    const data =
      end.outcome === 'succeeded'
        ? { result: end.result ?? null }
        : end.outcome === 'retry'
          ? { error: end.error, runAt: end.runAt }
          : end.error
            ? { error: end.error }
            : {};
    const script = this.#call(
      this.#work,
      'tlFinish',
      [this.keys.job(id), this.keys.events(id), this.keys.lock(task, id)],
      [id, token, end.outcome, JSON.stringify(payload ?? null), runAt, JSON.stringify(data)],
    ) as Promise<string | [string, string[], string[]]>;
    script.catch(() => {});
    const mine = held?.token === token;
    if (mine) this.#held.delete(id);
    // The BullMQ step goes down the same socket right behind the record's: if the record refused the
    // token, BullMQ refuses it too (same lock), so sending both at once is safe and costs one round
    // trip. If only the BullMQ step fails, the lock expires and recovery or the next claim reconciles.
    const bull = mine
      ? Promise.resolve(
          end.outcome === 'retry'
            ? held.job.moveToDelayed(Math.max(runAt, Date.now()), token)
            : held.job.moveToCompleted(null, token, false),
        )
      : Promise.resolve();
    const [res] = await Promise.all([script, bull.catch(() => {})]);
    if (!Array.isArray(res)) throw this.#leaseLost(id);
    // A child's end may have woken its parent (see finish.lua).
    await this.#wf.dispatchWoken(res[2]);
    return hashToRecord(flatToHash(res[1]))!;
  }

  async release(id: string, token: string): Promise<JobRecord | undefined> {
    const held = this.#held.get(id);
    const task = held?.task ?? (await this.get(id))?.task;
    if (!task) return undefined;
    const script = this.#call(
      this.#work,
      'tlRelease',
      [this.keys.job(id), this.keys.events(id), this.keys.lock(task, id)],
      [id, token],
    ) as Promise<string | [string, string[], string[]?]>;
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
    await this.#wf.dispatchWoken(res[2]);
    return hashToRecord(flatToHash(res[1]));
  }

  onCancelRequested(listener: (jobId: string) => void): () => void {
    this.#cancelListeners.add(listener);
    return () => this.#cancelListeners.delete(listener);
  }

  async prune(cut: PruneCut, limit: number): Promise<number> {
    this.#assertOpen();
    const n = Math.max(0, Math.floor(limit));
    if (n === 0 || (cut.succeededBefore <= 0 && cut.failedBefore <= 0)) return 0;
    return (await this.#call(this.#redis, 'tlPrune', [], [Math.max(0, cut.succeededBefore), Math.max(0, cut.failedBefore), n])) as number;
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

  // ── events ──────────────────────────────────────────────────────────────

  async appendEvents(id: string, token: string, events: readonly PendingEvent[]): Promise<void> {
    if (events.length === 0) return;
    const args: Array<string | number> = [token];
    for (const e of events) args.push(e.seq, e.type, JSON.stringify(e.data ?? null), e.at, e.attempt ?? '');
    const last = (await this.#call(this.#work, 'tlAppend', [this.keys.job(id), this.keys.events(id)], args)) as number;
    if (last === -1) throw this.#leaseLost(id);
    if (last < -1) {
      throw new JobError('TL_ERR_JOB_STATE', `events for job ${id} start at seq ${events[0]!.seq} but the stream ends at ${-2 - last}`, {
        details: { jobId: id },
      });
    }
  }

  async readEvents(id: string, fromSeq: number, limit?: number): Promise<JobEvent[]> {
    this.#assertOpen();
    try {
      const events = await this.#log.read(id, fromSeq, limit);
      // Seq 1 (enqueued) lives in the record until someone emits (see enqueue.lua).
      if (fromSeq < 1 && events[0]?.seq !== 1 && (limit ?? 1) > 0) {
        const createdAt = await this.#redis.hget(this.keys.job(id), 'createdAt');
        if (createdAt !== null) {
          events.unshift({ jobId: id, seq: 1, type: 'enqueued', data: {}, at: Number(createdAt), attempt: 0 });
          if (limit !== undefined && events.length > limit) events.pop();
        }
      }
      return events;
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
    // Seq 1 may be only in the record: read it first, then follow the stream after it.
    const first = fromSeq < 1 ? await this.readEvents(id, 0, 1) : [];
    const rest = this.#follower.follow(id, first[0]?.seq ?? fromSeq, {
      signal: opts.signal,
      isTerminal: (e) => TERMINAL_EVENTS.has(e.type),
    });
    return (async function* () {
      yield* first;
      yield* rest;
    })();
  }

  // ── lifecycle ───────────────────────────────────────────────────────────

  /** Closes every connection this engine opened; bounded even when Redis is down. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#follower.close();
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
    void this.#follower.close();
    void this.#bullmq.close();
    for (const c of [this.#conn.subscriber, this.#conn.work, this.#conn.blocking, this.#conn.commands]) c.disconnect();
  }

  // ── helpers ─────────────────────────────────────────────────────────────

  #assertOpen(): void {
    if (this.#closing) throw new StoreError('TL_ERR_STORE_UNAVAILABLE', 'the redis job engine is closed');
    if (this.#formatError) throw this.#formatError;
  }

  #leaseLost(id: string): JobError {
    return new JobError('TL_ERR_JOB_LEASE_LOST', `the lease on job ${id} was lost to another worker`, { details: { jobId: id } });
  }

  #storeError(err: unknown): TasklaneError {
    return storeError(err, this.#conn.commands);
  }

  #call(client: Scripted, name: string, keys: string[], args: Array<string | number>, now = Date.now()): Promise<unknown> {
    return callScript(client, this.keys.prefix, name, keys, args, now);
  }
}
