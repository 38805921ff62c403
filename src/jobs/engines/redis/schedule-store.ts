/** Schedule state on Redis: one hash per schedule, `P:sched:<name>` (see schedules/store.ts). */
import type { ScheduleState, ScheduleStore } from '../../schedules/store.js';
import { callScript, storeError, type Scripted } from './common.js';

export class RedisScheduleStore implements ScheduleStore {
  constructor(
    readonly client: Scripted,
    readonly prefix: string,
  ) {}

  #key(name: string): string {
    return `${this.prefix}:sched:${name}`;
  }

  async read(names: readonly string[]): Promise<Map<string, ScheduleState>> {
    const pipe = this.client.pipeline();
    for (const n of names) pipe.hgetall(this.#key(n));
    let rows: Array<[Error | null, unknown]>;
    try {
      rows = ((await pipe.exec()) ?? []) as Array<[Error | null, unknown]>;
    } catch (err) {
      throw storeError(err, this.client);
    }
    const out = new Map<string, ScheduleState>();
    names.forEach((name, i) => {
      const [err, h] = rows[i] ?? [null, {}];
      if (err) throw storeError(err, this.client);
      const hash = h as Record<string, string>;
      if (hash.lastTickAt === undefined) return;
      const st: ScheduleState = { name, lastTickAt: Number(hash.lastTickAt) };
      if (hash.lastJobId) st.lastJobId = hash.lastJobId;
      out.set(name, st);
    });
    return out;
  }

  async init(name: string, at: number): Promise<ScheduleState> {
    try {
      await this.client.hsetnx(this.#key(name), 'lastTickAt', at);
    } catch (err) {
      throw storeError(err, this.client);
    }
    return (await this.read([name])).get(name)!;
  }

  async advance(name: string, tickAt: number, jobId?: string): Promise<void> {
    await callScript(this.client, this.prefix, 'tlSchedAdvance', [this.#key(name)], [name, tickAt, jobId ?? '']);
  }
}
