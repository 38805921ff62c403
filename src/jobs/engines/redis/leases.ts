/**
 * The Redis engine's worker side: claims (a BullMQ job locked with our token, then the record
 * moved to running by a script that checks that lock), renewals, finishes and releases, each
 * fenced by the token. Worker commands use the `work` connection (they wait for Redis to come back).
 */
import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Claim, ClaimOptions, FinishOutcome } from '../../engine.js';
import type { JobRecord } from '../../types.js';
import { finishEvent, leaseLost, notFound } from '../common.js';
import { bull, callScript, type Scripted } from './common.js';
import type { BullDispatch } from './dispatch.js';
import type { Keys } from './keys.js';
import { flatToHash, hashToRecord } from './records.js';

type Flat = [string, string[]];

export interface LeaseDeps {
  work: Scripted;
  keys: Keys;
  bullmq: BullDispatch;
  report: (err: Error, what: string) => void;
  /** A job's record (for a finish or release of a job this process does not hold). */
  get: (id: string) => Promise<JobRecord | undefined>;
  /** Dispatches the jobs a finish or release woke (a parent whose last child ended). */
  woken: (woken: readonly string[] | undefined) => Promise<void>;
}

export interface Held {
  job: Job;
  task: string;
  token: string;
}

export class RedisLeases {
  readonly #d: LeaseDeps;
  /** Jobs this process holds a lease on: id → BullMQ job, task and token. */
  readonly #held = new Map<string, Held>();

  constructor(deps: LeaseDeps) {
    this.#d = deps;
  }

  holds(id: string): boolean {
    return this.#held.has(id);
  }

  /** The lease this process holds on a job, if any. */
  held(id: string): Held | undefined {
    return this.#held.get(id);
  }

  /** Forgets a held lease (the job was parked). */
  drop(id: string): void {
    this.#held.delete(id);
  }

  async claim(workerId: string, opts: ClaimOptions): Promise<Claim | undefined> {
    if (opts.tasks.length === 0) return undefined;
    for (const task of await this.#d.bullmq.claimOrder(opts.tasks)) {
      const claim = await this.#d.bullmq.throttled(task, (next) => this.#claimOne(task, next, workerId, opts.leaseMs));
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
    const { keys } = this.#d;
    for (let i = 0; i < 50; i++) {
      const token = `${workerId}:${randomUUID()}`;
      const job = await next(token);
      if (!job) return undefined;
      const id = job.id!;
      const res = (await this.#call('tlClaimed', [keys.job(id), keys.events(id), keys.lock(task, id)], [id, token, workerId, leaseMs])) as
        | string
        | Flat;
      if (Array.isArray(res)) {
        this.#held.set(id, { job, task, token });
        return { job: hashToRecord(flatToHash(res[1]))!, token };
      }
      if (res === 'lost') continue;
      // The record is final (cancelled while queued, finished before a crash, out of attempts) or gone: BullMQ lets go of it.
      await job.moveToCompleted(null, token, false).catch((err: Error) => this.#d.report(err, `dropping job ${id}`));
    }
    return undefined;
  }

  async renew(id: string, token: string, leaseMs: number): Promise<{ cancelRequested: boolean }> {
    const held = this.#held.get(id);
    if (!held || held.token !== token) throw leaseLost(id);
    const extended = await bull(held.job.extendLock(token, leaseMs));
    if (!extended) throw leaseLost(id);
    const { keys } = this.#d;
    const flag = (await this.#call(
      'tlRenew',
      [keys.job(id), keys.events(id), keys.lock(held.task, id)],
      [token, Date.now() + leaseMs],
    )) as number;
    if (flag < 0) throw leaseLost(id);
    return { cancelRequested: flag === 1 };
  }

  async finish(id: string, token: string, end: FinishOutcome): Promise<JobRecord> {
    const held = this.#held.get(id);
    const task = held?.task ?? (await this.#mustGet(id)).task;
    const payload = end.outcome === 'succeeded' ? end.result : end.error;
    const runAt = end.outcome === 'retry' ? end.runAt : 0;
    const { keys } = this.#d;
    const script = this.#call(
      'tlFinish',
      [keys.job(id), keys.events(id), keys.lock(task, id)],
      [id, token, end.outcome, JSON.stringify(payload ?? null), runAt, JSON.stringify(finishEvent(end).data)],
    ) as Promise<string | [string, string[], string[]]>;
    script.catch(() => {});
    const mine = held?.token === token;
    if (mine) this.#held.delete(id);
    // The BullMQ step goes down the same socket right behind the record's: if the record refused the
    // token, BullMQ refuses it too (same lock), so sending both at once is safe and costs one round
    // trip. If only the BullMQ step fails, the lock expires and recovery or the next claim reconciles.
    const step = mine
      ? Promise.resolve(
          end.outcome === 'retry'
            ? held.job.moveToDelayed(Math.max(runAt, Date.now()), token)
            : held.job.moveToCompleted(null, token, false),
        )
      : Promise.resolve();
    const [res] = await Promise.all([script, step.catch(() => {})]);
    if (!Array.isArray(res)) throw leaseLost(id);
    await this.#d.woken(res[2]);
    return hashToRecord(flatToHash(res[1]))!;
  }

  async release(id: string, token: string): Promise<JobRecord | undefined> {
    const held = this.#held.get(id);
    const task = held?.task ?? (await this.#d.get(id))?.task;
    if (!task) return undefined;
    const { keys } = this.#d;
    const script = this.#call('tlRelease', [keys.job(id), keys.events(id), keys.lock(task, id)], [id, token]) as Promise<
      string | [string, string[], string[]?]
    >;
    script.catch(() => {});
    const mine = held?.token === token;
    if (mine) this.#held.delete(id);
    const res = await script.catch(() => undefined);
    if (!Array.isArray(res)) return undefined;
    if (mine) {
      // Back in BullMQ's wait list for another worker, or out of BullMQ when the release ended the job.
      const step = res[0] === 'ok' ? held.job.moveToWait(token) : held.job.moveToCompleted(null, token, false);
      await Promise.resolve(step).catch((err: Error) => this.#d.report(err, `releasing job ${id}`));
    }
    await this.#d.woken(res[2]);
    return hashToRecord(flatToHash(res[1]));
  }

  async #mustGet(id: string): Promise<JobRecord> {
    const record = await this.#d.get(id);
    if (!record) throw notFound(id);
    return record;
  }

  #call(name: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    return callScript(this.#d.work, this.#d.keys.prefix, name, keys, args, Date.now());
  }
}
