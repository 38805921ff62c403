/**
 * Every Redis key the Redis engine uses, under one configurable prefix `P`:
 *
 *   P:job:<id>            hash   the job record (the source of truth for state)
 *   P:ev:<id>             stream the job's events, entry id `<seq>-0`
 *   P:idx:s:<state>       zset   jobs in a state
 *   P:idx:ts:<task>:<st>  zset   jobs of a task in a state
 *   (no index of every job or of every job of a task: such lists merge the six per-state sets;
 *   builds before that wrote P:idx:all and P:idx:t:<task>, which retention still cleans)
 *   P:idx:o:<key>         zset   jobs made by a client key (by its name)
 *   P:idx:ten:<tenant>    zset   jobs of a tenant
 *   P:cnt:o:<key>         hash   a client key's job counts, fields <state>:<task> (built on first use)
 *   P:cnt:ten:<tenant>    hash   a tenant's job counts, likewise
 *   P:idx:ord             string insertion counter (list order and cursors)
 *   P:meta                hash   `format`: the data's format version (see format.ts)
 *   P:idem:<key>          string idempotency key → job id
 *   P:cancel              pub/sub channel: ids of running jobs asked to cancel
 *   P:sched:<name>        hash   a schedule's latest tick and job (schedule-store.ts)
 *   P:lim:…               zsets  per-task limit groups: held, active, rate window (limits.ts)
 *   P:jr:<id>             hash   workflow journal: entry key → entry JSON (workflow.ts)
 *   P:sig:<id>            list   signals kept for the job, oldest first: JSON { n: name, p: payload JSON }
 *   P:kids:<id>           list   the job's children, spawn order
 *   P:pend:<id>           list   child.ended data for a parent held by an attempt, written at its park
 *   P:join:<id>           set    the children a parked parent still waits for
 *   P:wake                zset   waiting jobs with a wake time, scored by it
 *   P:q.<task>:*          BullMQ's queue for one task (dispatch and leases only)
 *
 * The Lua scripts build index keys from the prefix, so the engine needs a single Redis (or a
 * cluster where the prefix is a hash tag such as `{tasklane}`).
 */
/** BullMQ queue name of a task: one queue per task, so a worker can ask only for tasks it has room for. */
export function queueName(task: string): string {
  // BullMQ forbids ':' in queue names.
  return `q.${task.replaceAll('%', '%25').replaceAll(':', '%3A')}`;
}

export class Keys {
  constructor(readonly prefix: string) {}

  job(id: string): string {
    return `${this.prefix}:job:${id}`;
  }
  events(id: string): string {
    return `${this.prefix}:ev:${id}`;
  }
  idem(key: string): string {
    return `${this.prefix}:idem:${key}`;
  }
  all(): string {
    return `${this.prefix}:idx:all`;
  }
  state(state: string): string {
    return `${this.prefix}:idx:s:${state}`;
  }
  task(task: string): string {
    return `${this.prefix}:idx:t:${task}`;
  }
  taskState(task: string, state: string): string {
    return `${this.prefix}:idx:ts:${task}:${state}`;
  }
  owner(key: string): string {
    return `${this.prefix}:idx:o:${key}`;
  }
  tenant(tenant: string): string {
    return `${this.prefix}:idx:ten:${tenant}`;
  }
  journal(id: string): string {
    return `${this.prefix}:jr:${id}`;
  }
  children(id: string): string {
    return `${this.prefix}:kids:${id}`;
  }
  wake(): string {
    return `${this.prefix}:wake`;
  }
  /** An owner's job counts (fields <state>:<task>), built on first use (owner-counts.lua). */
  ownerCounts(owner: { key?: string; tenant?: string }): string {
    return owner.key !== undefined ? `${this.prefix}:cnt:o:${owner.key}` : `${this.prefix}:cnt:ten:${owner.tenant}`;
  }
  meta(): string {
    return `${this.prefix}:meta`;
  }
  cancelChannel(): string {
    return `${this.prefix}:cancel`;
  }
  /** BullMQ's lock key for a job: its value is the holder's token (our fencing token). */
  lock(task: string, id: string): string {
    return `${this.prefix}:${queueName(task)}:${id}:lock`;
  }
  /** BullMQ's job hash (exists while the job is dispatched). */
  bullJob(task: string, id: string): string {
    return `${this.prefix}:${queueName(task)}:${id}`;
  }
  /** BullMQ's prioritized set of a task queue (every job we add has a priority). */
  prioritized(task: string): string {
    return `${this.prefix}:${queueName(task)}:prioritized`;
  }
}
