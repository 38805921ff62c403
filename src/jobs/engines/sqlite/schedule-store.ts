/** Schedule state in the SQLite store: one row per schedule (see schedules/store.ts). */
import type Database from 'better-sqlite3';
import type { ScheduleState, ScheduleStore } from '../../schedules/store.js';

type Row = { name: string; last_tick_at: number; last_job_id: string | null };
export type Runner = <T>(fn: () => T) => Promise<T>;

export class SqliteScheduleStore implements ScheduleStore {
  readonly #read: Runner;
  readonly #write: Runner;
  readonly #q;

  constructor(db: Database.Database, read: Runner, write: Runner) {
    this.#read = read;
    this.#write = write;
    this.#q = {
      get: db.prepare<[string], Row>('SELECT * FROM schedules WHERE name = ?'),
      init: db.prepare<[string, number]>('INSERT INTO schedules (name, last_tick_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
      advance: db.prepare<[{ name: string; at: number; job: string | null }]>(
        `INSERT INTO schedules (name, last_tick_at, last_job_id) VALUES (@name, @at, @job)
         ON CONFLICT (name) DO UPDATE SET last_tick_at = excluded.last_tick_at, last_job_id = coalesce(excluded.last_job_id, last_job_id)
         WHERE excluded.last_tick_at >= last_tick_at`,
      ),
    };
  }

  read(names: readonly string[]): Promise<Map<string, ScheduleState>> {
    return this.#read(() => {
      const out = new Map<string, ScheduleState>();
      for (const n of names) {
        const row = this.#q.get.get(n);
        if (row) out.set(n, toState(row));
      }
      return out;
    });
  }

  init(name: string, at: number): Promise<ScheduleState> {
    return this.#write(() => {
      this.#q.init.run(name, at);
      return toState(this.#q.get.get(name)!);
    });
  }

  async advance(name: string, tickAt: number, jobId?: string): Promise<void> {
    await this.#write(() => this.#q.advance.run({ name, at: tickAt, job: jobId ?? null }));
  }
}

function toState(row: Row): ScheduleState {
  const st: ScheduleState = { name: row.name, lastTickAt: row.last_tick_at };
  if (row.last_job_id !== null) st.lastJobId = row.last_job_id;
  return st;
}
