/**
 * The Redis engine's event side: the holder's appends (fenced by the token in one script), reads
 * (seq 1, `enqueued`, rebuilt from the record until someone emits), and following a job run by
 * any process sharing this Redis.
 */
import type { TasklaneError } from '../../../errors.js';
import type { PendingEvent } from '../../engine.js';
import { FINAL_STATES, TERMINAL_EVENTS, type JobEvent, type JobRecord } from '../../types.js';
import { leaseLost, seqGap } from '../common.js';
import { callScript, type Scripted } from './common.js';
import type { RedisConnections } from './connections.js';
import { EventFollower } from './event-follower.js';
import { EventLog } from './event-log.js';
import type { Keys } from './keys.js';

export interface EventDeps {
  conn: RedisConnections;
  keys: Keys;
  mustGet: (id: string) => Promise<JobRecord>;
  storeError: (err: unknown) => TasklaneError;
  report: (err: Error, what: string) => void;
}

export class RedisEvents {
  readonly d: EventDeps;
  readonly #log: EventLog;
  readonly #follower: EventFollower;

  constructor(deps: EventDeps) {
    this.d = deps;
    this.#log = new EventLog(deps.conn.commands, deps.keys.prefix);
    this.#follower = new EventFollower(
      deps.conn.blocking,
      deps.conn.commands,
      (id) => deps.keys.events(id),
      (err) => deps.report(err, 'events'),
    );
  }

  close(): Promise<void> {
    return this.#follower.close();
  }

  async append(id: string, token: string, events: readonly PendingEvent[]): Promise<void> {
    if (events.length === 0) return;
    const { keys } = this.d;
    const args: Array<string | number> = [token];
    for (const e of events) args.push(e.seq, e.type, JSON.stringify(e.data ?? null), e.at, e.attempt ?? '');
    const last = (await callScript(this.d.conn.work as Scripted, keys.prefix, 'tlAppend', [keys.job(id), keys.events(id)], args)) as number;
    if (last === -1) throw leaseLost(id);
    if (last < -1) throw seqGap(id, events[0]!.seq, -2 - last);
  }

  async read(id: string, fromSeq: number, limit?: number): Promise<JobEvent[]> {
    try {
      const events = await this.#log.read(id, fromSeq, limit);
      // Seq 1 (enqueued) lives in the record until someone emits (see enqueue.lua).
      if (fromSeq < 1 && events[0]?.seq !== 1 && (limit ?? 1) > 0) {
        const createdAt = await this.d.conn.commands.hget(this.d.keys.job(id), 'createdAt');
        if (createdAt !== null) {
          events.unshift({ jobId: id, seq: 1, type: 'enqueued', data: {}, at: Number(createdAt), attempt: 0 });
          if (limit !== undefined && events.length > limit) events.pop();
        }
      }
      return events;
    } catch (err) {
      throw this.d.storeError(err);
    }
  }

  /**
   * The stored events after `fromSeq`, then live ones written by any process sharing this Redis,
   * until the job's terminal event. One XREAD BLOCK connection serves every follower of the process.
   */
  async follow(id: string, fromSeq: number, opts: { signal?: AbortSignal } = {}): Promise<AsyncIterable<JobEvent>> {
    const record = await this.d.mustGet(id);
    if (FINAL_STATES.has(record.state) && record.lastSeq <= fromSeq) return (async function* () {})();
    // Seq 1 may be only in the record: read it first, then follow the stream after it.
    const first = fromSeq < 1 ? await this.read(id, 0, 1) : [];
    const rest = this.#follower.follow(id, first[0]?.seq ?? fromSeq, {
      signal: opts.signal,
      isTerminal: (e) => TERMINAL_EVENTS.has(e.type),
    });
    return (async function* () {
      yield* first;
      yield* rest;
    })();
  }
}
