/**
 * The Redis engine's API-side writes: enqueue (our record, index entries and seq 1 in one
 * script, then BullMQ's add on the same socket), cancel, retry and prune. They use the commands
 * connection, which fails fast while Redis is down.
 */
import { randomUUID } from 'node:crypto';
import type { EngineEnqueueOptions, PruneCut } from '../../engine.js';
import type { JobRecord, JobState } from '../../types.js';
import { cannotCancel, cannotRetry, enqueuedRecord, pruneCount } from '../common.js';
import { callScript, storeError, type Scripted } from './common.js';
import type { BullDispatch } from './dispatch.js';
import type { RedisLimits } from './limits.js';
import type { Keys } from './keys.js';
import { flatToHash, hashToRecord } from './records.js';

export interface WriteDeps {
  redis: Scripted;
  keys: Keys;
  bullmq: BullDispatch;
  mustGet: (id: string) => Promise<JobRecord>;
  /** Dispatches the jobs a cancel woke (a parent whose last child ended). */
  woken: (woken: readonly string[] | undefined) => Promise<void>;
  /** Per-task limit groups: a job with a group is held, not dispatched (limits.ts). */
  limits: RedisLimits;
}

export class RedisWrites {
  readonly #d: WriteDeps;

  constructor(deps: WriteDeps) {
    this.#d = deps;
  }

  async enqueue(task: string, input: unknown, opts: EngineEnqueueOptions): Promise<JobRecord> {
    const now = Date.now();
    const id = randomUUID();
    const delayMs = Math.max(0, opts.delayMs ?? 0);
    const runAt = now + delayMs;
    // A job of a limited task is queued (held) until its group's gate admits it, delayed or not.
    const state: JobState = delayMs > 0 && opts.group === undefined ? 'delayed' : 'queued';
    const priority = opts.priority ?? 0;
    const idem = opts.idempotencyKey ?? '';
    const inputJson = JSON.stringify(input ?? null);
    const keys = [this.#d.keys.job(id), this.#d.keys.events(id), idem ? this.#d.keys.idem(idem) : this.#d.keys.job(id)];
    const args = [
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
      opts.traceparent ?? '',
    ];
    const script = (
      opts.group !== undefined
        ? this.#enqueueHeld(keys, args, { id, task, group: opts.group, priority, runAt }, now)
        : this.#call('tlEnqueue', keys, args, now)
    ) as Promise<[number, string, string[]?]>;
    if (opts.group !== undefined) {
      // Held in its group, not dispatched: the job system's pump admits it (limits.ts).
      const [created, , flat] = await script;
      if (!created) return hashToRecord(flatToHash(flat ?? []))!;
    } else if (idem) {
      // The key may already name another job: wait for the answer before dispatching anything.
      const [created, actualId, flat] = await script;
      if (!created) return hashToRecord(flatToHash(flat ?? []))!;
      await this.#d.bullmq.dispatch(actualId, task, priority, delayMs);
    } else {
      // Same socket, in order: the record exists before BullMQ can hand the job out.
      script.catch(() => {});
      await Promise.all([script, this.#d.bullmq.dispatch(id, task, priority, delayMs)]);
    }
    return enqueuedRecord(id, task, JSON.parse(inputJson), opts, now);
  }

  async cancel(id: string): Promise<JobRecord> {
    const reply = (await this.#call('tlCancel', [this.#d.keys.job(id), this.#d.keys.events(id)], [id])) as string | [string, string[]];
    // A cancel that ended a child may have woken its parent (see cancel.lua).
    const res = Array.isArray(reply) ? reply[0] : reply;
    if (Array.isArray(reply)) await this.#d.woken(reply[1]);
    if (res === 'missing') await this.#d.mustGet(id);
    const record = await this.#d.mustGet(id);
    if (res === 'now') {
      // Best effort: if a worker holds it right now, its claim sees the cancelled record and drops it.
      await this.#d.bullmq.remove(record.task, id);
    } else if (res !== 'requested') {
      throw cannotCancel(id, res);
    }
    return record;
  }

  async retry(id: string): Promise<JobRecord> {
    const res = (await this.#call('tlRetry', [this.#d.keys.job(id), this.#d.keys.events(id)], [id])) as string;
    if (res === 'missing') await this.#d.mustGet(id);
    if (res !== 'ok') throw cannotRetry(id, res);
    const record = await this.#d.mustGet(id);
    await this.#d.bullmq.remove(record.task, id);
    // A job of a limited task goes back to its group's gate, not straight to BullMQ.
    if (record.group !== undefined) await this.#d.limits.holdNow({ ...record, group: record.group });
    else await this.#d.bullmq.dispatch(id, record.task, record.priority, 0);
    return record;
  }

  async prune(cut: PruneCut, limit: number): Promise<number> {
    const n = pruneCount(cut, limit);
    if (n === 0) return 0;
    return (await this.#call('tlPrune', [], [Math.max(0, cut.succeededBefore), Math.max(0, cut.failedBefore), n])) as number;
  }

  /** enqueue.lua then hold.lua in one MULTI: a limited task's job is never in BullMQ before its gate admits it. */
  async #enqueueHeld(
    keys: string[],
    args: Array<string | number>,
    job: { id: string; task: string; group: string; priority: number; runAt: number },
    now: number,
  ): Promise<unknown> {
    const multi = this.#d.redis.multi();
    (multi as unknown as Record<string, (...a: Array<string | number>) => void>).tlEnqueue!(...keys, this.#d.keys.prefix, now, ...args);
    this.#d.limits.hold(multi, job, now);
    try {
      const [[err, res] = [null, undefined]] = ((await multi.exec()) ?? []) as Array<[Error | null, unknown]>;
      if (err) throw err;
      return res;
    } catch (err) {
      throw storeError(err, this.#d.redis);
    }
  }

  #call(name: string, keys: string[], args: Array<string | number>, now = Date.now()): Promise<unknown> {
    return callScript(this.#d.redis, this.#d.keys.prefix, name, keys, args, now);
  }
}
