/**
 * The Redis engine's side of workflows (src/jobs/engine.ts, "Workflows"): the journal, park and
 * wake, signals and children. Each state change is one Lua script fenced like finish (token and
 * BullMQ's lock); a parked job leaves BullMQ altogether (its lane slot and lock go with it) and
 * is handed to BullMQ again when something wakes it: its time (wakeDue, from the P:wake set), a
 * signal, or the end of the last child it joins (inside the child's own finish, cancel or
 * recovery script). Every script that can wake a job returns the woken (id, task, priority)
 * triples, and whoever ran it dispatches them; if that process dies in between, the recovery
 * sweep finds the queued record BullMQ never got and dispatches it (recovery.ts).
 */
import type { Job } from 'bullmq';
import { JobError, NotFoundError } from '../../../errors.js';
import type { ChildRecord, JournalEntry } from '../../engine.js';
import type { JobRecord, JobState, WaitFor } from '../../types.js';
import { callScript, storeError, type Scripted } from './common.js';
import type { BullDispatch } from './dispatch.js';
import type { Keys } from './keys.js';
import { flatToHash, hashToRecord } from './records.js';

/** A wait no time ends (a signal without timeout, a join). */
const NEVER = Number.MAX_SAFE_INTEGER;
/** Jobs one wakeDue() call wakes at most. */
const WAKE_BATCH = 200;

export interface WorkflowDeps {
  /** API commands (signal, reads). */
  redis: Scripted;
  /** Worker commands (journal writes, park, takeSignal, wakes). */
  work: Scripted;
  keys: Keys;
  bullmq: BullDispatch;
  /** The lease this process holds on a job, if any. */
  held(id: string): { job: Job; task: string; token: string } | undefined;
  /** Forgets a held lease (the job was parked). */
  drop(id: string): void;
  get(id: string): Promise<JobRecord | undefined>;
  report(err: Error, what: string): void;
}

export class RedisWorkflows {
  readonly #d: WorkflowDeps;

  constructor(deps: WorkflowDeps) {
    this.#d = deps;
  }

  async readJournal(id: string): Promise<JournalEntry[]> {
    try {
      return (await this.#d.redis.hvals(this.#d.keys.journal(id))).map((raw) => JSON.parse(raw) as JournalEntry);
    } catch (err) {
      throw storeError(err, this.#d.redis);
    }
  }

  async writeJournal(id: string, token: string, entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const args: Array<string | number> = [id, token];
    for (const e of entries) args.push(e.key, JSON.stringify(e));
    const res = await this.#call(this.#d.work, 'tlJournal', await this.#fenced(id), args);
    if (res !== 1) throw leaseLost(id);
  }

  async park(id: string, token: string, waitFor: WaitFor, entries: readonly JournalEntry[] = []): Promise<JobRecord> {
    const held = this.#d.held(id);
    const mine = held?.token === token ? held : undefined;
    const runAt = waitFor.kind === 'sleep' ? waitFor.until : waitFor.kind === 'signal' ? (waitFor.timeoutAt ?? NEVER) : NEVER;
    const args: Array<string | number> = [
      id,
      token,
      JSON.stringify(waitFor),
      waitFor.kind,
      waitFor.kind === 'signal' ? waitFor.name : '',
      runAt,
      JSON.stringify(waitFor.kind === 'children' ? waitFor.ids : []),
    ];
    for (const e of entries) args.push(e.key, JSON.stringify(e));
    const res = (await this.#call(this.#d.work, 'tlPark', await this.#fenced(id), args)) as string | [JobState, string[], string[]];
    if (!Array.isArray(res)) throw leaseLost(id);
    const [state, flat, woken] = res;
    if (mine) {
      this.#d.drop(id);
      // Out of BullMQ while it waits, or straight back into its wait list when the wait was over.
      const step = state === 'queued' ? mine.job.moveToWait(token) : mine.job.moveToCompleted(null, token, false);
      await Promise.resolve(step).catch((err: Error) => this.#d.report(err, `parking job ${id}`));
      // A wake that came between the script and BullMQ's step found BullMQ still holding the job
      // (its add was a no-op): hand it over now.
      if (state === 'waiting' && (await this.#d.work.hget(this.#d.keys.job(id), 'state')) === 'queued') {
        await this.#dispatch([id, mine.task, String(hashToRecord(flatToHash(flat))!.priority)]);
      }
    }
    await this.#dispatch(woken);
    return hashToRecord(flatToHash(flat))!;
  }

  async wakeDue(): Promise<number> {
    const woken = (await this.#call(this.#d.work, 'tlWakeDue', [this.#d.keys.wake()], [WAKE_BATCH])) as string[];
    await this.#dispatch(woken);
    return woken.length / 3;
  }

  async signal(id: string, name: string, payload: unknown): Promise<JobRecord> {
    const { keys } = this.#d;
    const res = (await this.#call(
      this.#d.redis,
      'tlSignal',
      [keys.job(id), keys.events(id)],
      [id, name, JSON.stringify(payload ?? null)],
    )) as string | [string, string[], string[]];
    if (res === 'missing') throw notFound(id);
    if (!Array.isArray(res)) {
      throw new JobError('TL_ERR_JOB_STATE', `job ${id} is already ${res}; a signal can only go to a job that has not ended`, {
        details: { jobId: id, state: res },
      });
    }
    await this.#dispatch(res[2]);
    return hashToRecord(flatToHash(res[1]))!;
  }

  async takeSignal(
    id: string,
    token: string,
    name: string,
    entry: Pick<JournalEntry, 'key' | 'pos' | 'startedAt'>,
  ): Promise<{ payload: unknown } | undefined> {
    const now = Date.now();
    const head = JSON.stringify({ ...entry, status: 'completed', endedAt: now });
    const res = (await this.#call(
      this.#d.work,
      'tlTakeSignal',
      await this.#fenced(id),
      [id, token, name, entry.key, `${head.slice(0, -1)},"result":`],
      now,
    )) as string | [number, string?];
    if (!Array.isArray(res)) throw leaseLost(id);
    return res[0] === 1 ? { payload: JSON.parse(res[1]!) } : undefined;
  }

  async children(id: string): Promise<ChildRecord[]> {
    const { redis, keys } = this.#d;
    try {
      const ids = await redis.lrange(keys.children(id), 0, -1);
      if (ids.length === 0) return [];
      const pipe = redis.pipeline();
      for (const child of ids) pipe.hmget(keys.job(child), 'id', 'task', 'state', 'result', 'error');
      const rows = (await pipe.exec()) ?? [];
      const out: ChildRecord[] = [];
      for (const [err, row] of rows) {
        if (err) throw err;
        const [cid, task, state, result, error] = row as Array<string | null>;
        if (!cid) continue; // pruned
        const c: ChildRecord = { id: cid, task: task!, state: state as JobState };
        if (result) c.result = JSON.parse(result);
        if (error && state !== 'succeeded') c.error = JSON.parse(error) as ChildRecord['error'];
        out.push(c);
      }
      return out;
    } catch (err) {
      throw storeError(err, redis);
    }
  }

  /** Hands woken jobs to BullMQ: `woken` as the scripts return it, (id, task, priority) triples. */
  async dispatchWoken(woken: readonly string[] | undefined): Promise<void> {
    await this.#dispatch(woken);
  }

  async #dispatch(woken: readonly string[] | undefined): Promise<void> {
    if (!woken?.length) return;
    const adds: Array<Promise<unknown>> = [];
    for (let i = 0; i + 2 < woken.length; i += 3) adds.push(this.#d.bullmq.dispatch(woken[i]!, woken[i + 1]!, Number(woken[i + 2]), 0));
    const settled = await Promise.allSettled(adds);
    // A dispatch that failed is found by the recovery sweep (a queued record BullMQ does not have).
    for (const s of settled) if (s.status === 'rejected') this.#d.report(s.reason as Error, 'waking a job');
  }

  /** The keys a fenced script takes: the record, its stream and BullMQ's lock (which needs the task). */
  async #fenced(id: string): Promise<string[]> {
    const { keys } = this.#d;
    const task = this.#d.held(id)?.task ?? (await this.#d.get(id))?.task;
    if (!task) throw notFound(id);
    return [keys.job(id), keys.events(id), keys.lock(task, id)];
  }

  #call(client: Scripted, name: string, keys: string[], args: Array<string | number>, now = Date.now()): Promise<unknown> {
    return callScript(client, this.#d.keys.prefix, name, keys, args, now);
  }
}

function leaseLost(id: string): JobError {
  return new JobError('TL_ERR_JOB_LEASE_LOST', `the lease on job ${id} was lost to another worker`, { details: { jobId: id } });
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`no job has the id ${id}`, { code: 'TL_ERR_JOB_NOT_FOUND', details: { jobId: id } });
}
