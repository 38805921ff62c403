/**
 * Per-task limit groups on Redis (see limits/types.ts), tasklane's own: open-source BullMQ limits
 * only a whole queue. A held job's record is `queued` with `held=1`, it is in its group's held
 * set and not in BullMQ; gate.lua admits jobs atomically for the whole fleet, then they are
 * dispatched to BullMQ like any job (a crash in between is repaired by the orphan sweep, which
 * skips held records).
 *
 *   P:lim:<len(task)>:<task>:<group>:held   zset  held jobs (score: priority, then runAt)
 *   P:lim:<len(task)>:<task>:<group>:on     zset  admitted jobs not ended (concurrency)
 *   P:lim:<len(task)>:<task>:<group>:starts zset  admissions in the rate window
 *   P:lim:groups                             zset  groups that hold jobs, as JSON [task, group]
 */
import type { ChainableCommander } from 'ioredis';
import type { LimitSpec, LimitStore, PumpResult } from '../../limits/types.js';
import { callScript, storeError, type Scripted } from './common.js';

export class RedisLimits implements LimitStore {
  constructor(
    readonly client: Scripted,
    readonly prefix: string,
    readonly dispatch: (id: string, task: string, priority: number) => Promise<unknown>,
  ) {}

  #group(task: string, group: string, what: 'held' | 'on' | 'starts'): string {
    return `${this.prefix}:lim:${task.length}:${task}:${group}:${what}`;
  }

  #groups(): string {
    return `${this.prefix}:lim:groups`;
  }

  /** Appends the hold of a new or retried job to a MULTI (right after the script that wrote its record). */
  hold(multi: ChainableCommander, job: { id: string; task: string; group: string; priority: number; runAt: number }, now: number): void {
    // Higher priority first, then the earlier runAt: both fit a double exactly for |priority| < 900.
    const score = -Math.round(job.priority) * 1e13 + job.runAt;
    (multi as unknown as Record<string, (...a: Array<string | number>) => void>).tlHold!(
      `${this.prefix}:job:${job.id}`,
      this.#group(job.task, job.group, 'held'),
      this.#groups(),
      this.prefix,
      now,
      job.id,
      job.group,
      score,
      JSON.stringify([job.task, job.group]),
    );
  }

  /** Holds a job already stored (a retried one) in its own round trip. */
  async holdNow(job: { id: string; task: string; group: string; priority: number; runAt: number }): Promise<void> {
    const multi = this.client.multi();
    this.hold(multi, job, Date.now());
    try {
      await multi.exec();
    } catch (err) {
      throw storeError(err, this.client);
    }
  }

  async pump(task: string, group: string, spec: LimitSpec): Promise<PumpResult> {
    const res = (await callScript(
      this.client,
      this.prefix,
      'tlGate',
      [this.#group(task, group, 'held'), this.#group(task, group, 'on'), this.#group(task, group, 'starts'), this.#groups()],
      [spec.concurrency ?? 0, spec.rate?.limit ?? 0, spec.rate?.periodMs ?? 0, JSON.stringify([task, group])],
    )) as Array<string | number>;
    const admitted: Array<Promise<unknown>> = [];
    for (let i = 2; i + 1 < res.length; i += 2) admitted.push(this.dispatch(String(res[i]), task, Number(res[i + 1])));
    await Promise.all(admitted);
    const result: PumpResult = { admitted: admitted.length, held: Number(res[0]) };
    if (Number(res[1]) >= 0) result.nextAt = Number(res[1]);
    return result;
  }

  async heldGroups(): Promise<Array<{ task: string; group: string }>> {
    let members: string[];
    try {
      members = await this.client.zrange(this.#groups(), 0, 999);
    } catch (err) {
      throw storeError(err, this.client);
    }
    return members.map((m) => {
      const [task, group] = JSON.parse(m) as [string, string];
      return { task, group };
    });
  }
}
