/**
 * Every Redis key the Redis engine uses, under one configurable prefix `P`:
 *
 *   P:job:<id>            hash   the job record (the source of truth for state)
 *   P:ev:<id>             stream the job's events, entry id `<seq>-0`
 *   P:idx:all             zset   every job, scored by insertion order (for listing)
 *   P:idx:s:<state>       zset   jobs in a state
 *   P:idx:t:<task>        zset   jobs of a task
 *   P:idx:ts:<task>:<st>  zset   jobs of a task in a state
 *   P:idx:ord             string insertion counter (list order and cursors)
 *   P:idem:<key>          string idempotency key → job id
 *   P:cancel              pub/sub channel: ids of running jobs asked to cancel
 *   P:jobs:*              BullMQ's queue "jobs" (dispatch and leases only)
 *
 * The Lua scripts build index keys from the prefix, so the engine needs a single Redis (or a
 * cluster where the prefix is a hash tag such as `{tasklane}`).
 */
export const QUEUE_NAME = 'jobs';

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
  cancelChannel(): string {
    return `${this.prefix}:cancel`;
  }
  /** BullMQ's lock key for a job: its value is the holder's token (our fencing token). */
  lock(id: string): string {
    return `${this.prefix}:${QUEUE_NAME}:${id}:lock`;
  }
  /** BullMQ's job hash (exists while the job is dispatched). */
  bullJob(id: string): string {
    return `${this.prefix}:${QUEUE_NAME}:${id}`;
  }
}
