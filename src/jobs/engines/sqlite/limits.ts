/**
 * Per-task limits in the SQLite store (see limits/types.ts). A held job has the internal state
 * 'held' (records show `queued`), so it is outside the ready index and costs the claim path
 * nothing; a pump is one IMMEDIATE write, so two processes never admit past a limit.
 */
import type Database from 'better-sqlite3';
import type { LimitSpec, LimitStore, PumpResult } from '../../limits/types.js';
import type { Runner } from './schedule-store.js';

export class SqliteLimits implements LimitStore {
  readonly #read: Runner;
  readonly #write: Runner;
  readonly #q;

  constructor(db: Database.Database, read: Runner, write: Runner) {
    this.#read = read;
    this.#write = write;
    this.#q = {
      hold: db.prepare<[string, number]>(`UPDATE jobs SET state = 'held', grp = ? WHERE n = ?`),
      active: db.prepare<[string, string], { c: number }>(
        `SELECT count(*) AS c FROM jobs INDEXED BY jobs_group WHERE task = ? AND grp = ? AND state IN ('queued', 'delayed', 'running', 'waiting')`,
      ),
      // An admission counts from its job's start once the job started (claims lag admissions).
      startedAt: db.prepare<[string, string]>(
        `UPDATE limit_starts SET at = (SELECT started_at FROM jobs WHERE jobs.n = limit_starts.job)
         WHERE task = ? AND grp = ? AND (SELECT started_at FROM jobs WHERE jobs.n = limit_starts.job) > at`,
      ),
      dropStarts: db.prepare<[string, string, number]>('DELETE FROM limit_starts WHERE task = ? AND grp = ? AND at <= ?'),
      starts: db.prepare<[string, string], { c: number; oldest: number | null }>(
        'SELECT count(*) AS c, min(at) AS oldest FROM limit_starts INDEXED BY limit_starts_group WHERE task = ? AND grp = ?',
      ),
      addStart: db.prepare<[string, string, number, number]>('INSERT INTO limit_starts (task, grp, at, job) VALUES (?, ?, ?, ?)'),
      due: db.prepare<[string, string, number, number], { n: number }>(
        `SELECT n FROM jobs INDEXED BY jobs_group WHERE task = ? AND grp = ? AND state = 'held' AND run_at <= ?
         ORDER BY priority DESC, run_at, n LIMIT ?`,
      ),
      admit: db.prepare<[number, number]>(`UPDATE jobs SET state = 'queued', updated_at = ? WHERE n = ? AND state = 'held'`),
      held: db.prepare<[string, string], { c: number; soonest: number | null }>(
        `SELECT count(*) AS c, min(run_at) AS soonest FROM jobs INDEXED BY jobs_group WHERE task = ? AND grp = ? AND state = 'held'`,
      ),
      groups: db.prepare<[], { task: string; grp: string }>(`SELECT DISTINCT task, grp FROM jobs WHERE state = 'held' LIMIT 1000`),
    };
  }

  /** Inside the enqueue write: the new row is held in its group (the pump after it may admit it). */
  hold(row: { n: number; state: string; grp?: string | null }, group: string): void {
    this.#q.hold.run(group, row.n);
    row.state = 'held';
    row.grp = group;
  }

  pump(task: string, group: string, spec: LimitSpec): Promise<PumpResult> {
    return this.#write(() => {
      const now = Date.now();
      let free = Number.POSITIVE_INFINITY;
      if (spec.concurrency !== undefined) free = spec.concurrency - this.#q.active.get(task, group)!.c;
      let used = 0;
      let oldest: number | null = null;
      if (spec.rate) {
        this.#q.startedAt.run(task, group);
        this.#q.dropStarts.run(task, group, now - spec.rate.periodMs);
        const s = this.#q.starts.get(task, group)!;
        used = s.c;
        oldest = s.oldest;
        free = Math.min(free, spec.rate.limit - used);
      }
      let admitted = 0;
      if (free > 0) {
        for (const { n } of this.#q.due.all(task, group, now, Math.min(free, 1_000))) {
          this.#q.admit.run(now, n);
          if (spec.rate) this.#q.addStart.run(task, group, now, n);
          admitted++;
        }
      }
      const held = this.#q.held.get(task, group)!;
      const result: PumpResult = { admitted, held: held.c };
      if (held.c > 0) {
        // Blocked by the rate: the oldest start in the window leaves it then. Blocked by a delay: when it is due.
        if (spec.rate && used + admitted >= spec.rate.limit) result.nextAt = (oldest ?? now) + spec.rate.periodMs;
        else if (held.soonest !== null && held.soonest > now && (spec.concurrency === undefined || free - admitted > 0))
          result.nextAt = held.soonest;
      }
      return result;
    });
  }

  heldGroups(): Promise<Array<{ task: string; group: string }>> {
    return this.#read(() => this.#q.groups.all().map((r) => ({ task: r.task, group: r.grp })));
  }
}
