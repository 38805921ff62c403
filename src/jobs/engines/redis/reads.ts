/**
 * The Redis engine's read side: records, pages merged from the per-state indexes, and counts
 * from index sizes. Reads use the API connection (fail fast while Redis is down).
 */
import type { TasklaneError } from '../../../errors.js';
import type { JobCounts } from '../../engine.js';
import type { JobRecord, JobState, ListQuery } from '../../types.js';
import { JOB_STATES, decodeCursor, listLimit, notFound, ownerFilter } from '../common.js';
import { callScript, type Scripted } from './common.js';
import type { Keys } from './keys.js';
import { hashToRecord } from './records.js';

export class RedisReads {
  constructor(
    readonly redis: Scripted,
    readonly keys: Keys,
    readonly storeError: (err: unknown) => TasklaneError,
  ) {}

  async get(id: string): Promise<JobRecord | undefined> {
    try {
      return hashToRecord(await this.redis.hgetall(this.keys.job(id)));
    } catch (err) {
      throw this.storeError(err);
    }
  }

  async mustGet(id: string): Promise<JobRecord> {
    const record = await this.get(id);
    if (!record) throw notFound(id);
    return record;
  }

  /** Newest first. The cursor is the insertion order of the last job returned. */
  async list(q: ListQuery = {}): Promise<{ jobs: JobRecord[]; next?: string }> {
    const cursor = decodeCursor(q.cursor);
    const limit = listLimit(q);
    const owner = ownerFilter(q.owner);
    // An owner's listing walks that owner's index and filters task and state as it reads.
    // Without a state filter (and no owner), the page is merged from the six per-state indexes
    // (of the task, or of all tasks): no index of every job, so a job costs two index entries.
    const keys = owner
      ? [owner.key !== undefined ? this.keys.owner(owner.key) : this.keys.tenant(owner.tenant!)]
      : q.state
        ? [q.task ? this.keys.taskState(q.task, q.state) : this.keys.state(q.state)]
        : JOB_STATES.map((st) => (q.task ? this.keys.taskState(q.task, st) : this.keys.state(st)));
    const keep = (r: JobRecord): boolean =>
      (!q.state || r.state === q.state) &&
      (!owner ||
        ((owner.key === undefined || r.owner?.key === owner.key) &&
          (owner.tenant === undefined || r.owner?.tenant === owner.tenant) &&
          (!q.task || r.task === q.task)));
    // An owner's jobs of one task (and state): the owner's counters say at once when there are
    // none, instead of a walk of the owner's whole index that finds nothing.
    if (owner && q.task && (owner.key === undefined || owner.tenant === undefined)) {
      const by = (await this.#ownerCounts([q.task], owner)).tasks[q.task] ?? {};
      const n = q.state ? (by[q.state] ?? 0) : Object.values(by).reduce((a, b) => a + (b ?? 0), 0);
      if (n === 0) return { jobs: [] };
    }
    const jobs: JobRecord[] = [];
    let upper = cursor !== undefined ? `(${cursor}` : '+inf';
    let next: string | undefined;
    try {
      // Index entries can run ahead of a record's state (read between two steps); re-check and read on.
      for (let round = 0; round < (owner ? 20 : 5) && jobs.length < limit; round++) {
        const entries = await this.#newest(keys, upper, limit - jobs.length + 1);
        const want = entries.slice(0, limit - jobs.length);
        const pipe = this.redis.pipeline();
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
      throw this.storeError(err);
    }
    // An owner's page may come back short after its rounds with more to read: the cursor says so.
    return next !== undefined && (jobs.length >= limit || owner) ? { jobs, next } : { jobs };
  }

  /**
   * The `n` newest entries (by insertion order, below `upper`) across the index keys, as
   * [id, ord]. Several keys are read in one MULTI, so a job moving between them meanwhile is seen once.
   */
  async #newest(keys: readonly string[], upper: string, n: number): Promise<Array<[string, string]>> {
    const multi = keys.length === 1 ? this.redis.pipeline() : this.redis.multi();
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

  /**
   * Index sizes (ZCARD), one pipelined round trip; an owner's (a key's or a tenant's, not both at
   * once: undefined then) from that owner's counter hash (owner-counts.lua).
   */
  async counts(tasks: readonly string[] = [], owner?: ListQuery['owner']): Promise<JobCounts | undefined> {
    const by = ownerFilter(owner);
    if (by) return by.key !== undefined && by.tenant !== undefined ? undefined : this.#ownerCounts(tasks, by);
    const pipe = this.redis.pipeline();
    for (const st of JOB_STATES) pipe.zcard(this.keys.state(st));
    for (const t of tasks) for (const st of JOB_STATES) pipe.zcard(this.keys.taskState(t, st));
    let rows: Array<[Error | null, unknown]>;
    try {
      rows = ((await pipe.exec()) ?? []) as Array<[Error | null, unknown]>;
    } catch (err) {
      throw this.storeError(err);
    }
    const at = (i: number) => {
      const [err, v] = rows[i] ?? [new Error('no answer'), 0];
      if (err) throw this.storeError(err);
      return Number(v);
    };
    const states = Object.fromEntries(JOB_STATES.map((st, i) => [st, at(i)])) as Record<JobState, number>;
    const byTask: JobCounts['tasks'] = {};
    tasks.forEach((t, ti) => {
      const c: Partial<Record<JobState, number>> = {};
      JOB_STATES.forEach((st, si) => {
        const n = at(JOB_STATES.length * (ti + 1) + si);
        if (n > 0) c[st] = n;
      });
      byTask[t] = c;
    });
    return { states, tasks: byTask };
  }

  async #ownerCounts(tasks: readonly string[], owner: { key?: string; tenant?: string }): Promise<JobCounts> {
    const index = owner.key !== undefined ? this.keys.owner(owner.key) : this.keys.tenant(owner.tenant!);
    const flat = (await callScript(this.redis, this.keys.prefix, 'tlOwnerCounts', [this.keys.ownerCounts(owner), index], [])) as string[];
    const states = Object.fromEntries(JOB_STATES.map((st) => [st, 0])) as Record<JobState, number>;
    const byTask: JobCounts['tasks'] = {};
    for (const t of tasks) byTask[t] = {};
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i]!;
      const n = Number(flat[i + 1]);
      const at = field.indexOf(':');
      if (at < 0 || n <= 0) continue;
      const state = field.slice(0, at) as JobState;
      const task = field.slice(at + 1);
      states[state] = (states[state] ?? 0) + n;
      (byTask[task] ??= {})[state] = n;
    }
    return { states, tasks: byTask };
  }
}
