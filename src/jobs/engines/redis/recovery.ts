/**
 * Recovery for the Redis engine: running records whose BullMQ lock is gone go back to the queue
 * (or end dead or cancelled), and now and then queued records BullMQ never received (a crash
 * between the two writes) are dispatched again. BullMQ's own stalled checker moves its side on
 * its timer; this sweep covers the records.
 */
import { callScript, storeError, type Scripted } from './common.js';
import type { BullDispatch } from './dispatch.js';
import type { Keys } from './keys.js';

/** How often sweep() also looks for records BullMQ never received, in ms. */
const ORPHAN_SWEEP_MS = 10_000;

export class Recovery {
  #lastOrphanSweep = 0;

  constructor(
    readonly work: Scripted,
    readonly keys: Keys,
    readonly bull: BullDispatch,
    /** Hands jobs a recovered child's end woke (its parent) to BullMQ. */
    readonly dispatchWoken: (woken: string[]) => Promise<void> = async () => {},
  ) {}

  /** One pass; returns how many records moved. */
  async sweep(): Promise<number> {
    let moved = 0;
    try {
      const running = await this.work.zrange(this.keys.state('running'), 0, 999);
      const tasks = running.length ? (await this.#rows(running, ['task'])).map((r) => r[0] ?? undefined) : [];
      const pipe = this.work.pipeline();
      running.forEach((id, i) => pipe.exists(this.keys.lock(tasks[i] ?? '', id)));
      const locks = (await pipe.exec()) ?? [];
      for (let i = 0; i < running.length; i++) {
        if (tasks[i] && locks[i]?.[1] === 0 && (await this.recoverOne(tasks[i]!, running[i]!, true)) !== 'alive') moved++;
      }
      // Orphans are rare (a crash between two writes): look for them now and then, not on every sweep.
      if (Date.now() - this.#lastOrphanSweep < ORPHAN_SWEEP_MS) return moved;
      this.#lastOrphanSweep = Date.now();
      moved += await this.#sweepOrphans();
    } catch (err) {
      throw storeError(err);
    }
    return moved;
  }

  async #sweepOrphans(): Promise<number> {
    let moved = 0;
    const cutoff = Date.now() - 5_000;
    for (const state of ['queued', 'delayed'] as const) {
      const ids = await this.work.zrange(this.keys.state(state), 0, 999);
      if (ids.length === 0) continue;
      const rows = await this.#rows(ids, ['task', 'priority', 'runAt', 'updatedAt', 'createdAt', 'held']);
      const check = this.work.pipeline();
      ids.forEach((id, i) => check.exists(this.keys.bullJob(rows[i]![0] ?? '', id)));
      const exists = (await check.exec()) ?? [];
      for (let i = 0; i < ids.length; i++) {
        const [task, priority, runAt, updatedAt, createdAt, held] = rows[i]!;
        // A job held by a limit is out of BullMQ on purpose (limits.ts).
        if (task && held !== '1' && exists[i]?.[1] === 0 && Number(updatedAt ?? createdAt) < cutoff) {
          await this.bull.dispatch(ids[i]!, task, Number(priority), Number(runAt) - Date.now());
          moved++;
        }
      }
    }
    return moved;
  }

  async #rows(ids: string[], fields: string[]): Promise<Array<Array<string | null>>> {
    const pipe = this.work.pipeline();
    for (const id of ids) pipe.hmget(this.keys.job(id), ...fields);
    const res = (await pipe.exec()) ?? [];
    return res.map(([err, v]) => {
      if (err) throw err;
      return v as Array<string | null>;
    });
  }

  /**
   * Recovers one record whose lock is gone, then brings BullMQ in line at once (its stalled checker
   * needs two passes): the job is removed and, when it goes back to the queue, added again under
   * the same id. Remove-then-add from several processes always ends with one job, and BullMQ refuses
   * to remove a job someone has locked again in the meantime.
   */
  async recoverOne(task: string, id: string, moveBull = false): Promise<string> {
    const reply = (await callScript(
      this.work,
      this.keys.prefix,
      'tlRecover',
      [this.keys.job(id), this.keys.events(id), this.keys.lock(task, id)],
      [id],
    )) as string | [string, string[]];
    const res = Array.isArray(reply) ? reply[0] : reply;
    if (Array.isArray(reply)) await this.dispatchWoken(reply[1]);
    if (res === 'alive' || !moveBull) {
      if (res === 'dead' || res === 'cancelled') await this.bull.remove(task, id);
      return res;
    }
    const removed = await this.bull.remove(task, id);
    if (res === 'queued' && removed !== -1) {
      const [priority] = (await this.#rows([id], ['priority']))[0] ?? [];
      await this.bull.dispatch(id, task, Number(priority ?? 0), 0);
    }
    return res;
  }
}
