/**
 * What an engine keeps per schedule, shared by every process on the store: the latest tick that
 * was dealt with (run, or skipped because the previous job still ran) and the job it made.
 */
export interface ScheduleState {
  name: string;
  /** The latest tick dealt with (epoch ms); on first sight, the time the schedule was first seen. */
  lastTickAt: number;
  /** The job the latest run made (a skipped tick keeps the one before). */
  lastJobId?: string;
}

export interface ScheduleStore {
  /** The stored state of these schedules (absent ones are missing from the map). */
  read(names: readonly string[]): Promise<Map<string, ScheduleState>>;
  /** Stores a first state unless one exists; returns the state that holds afterwards. */
  init(name: string, at: number): Promise<ScheduleState>;
  /** Moves lastTickAt forward to `tickAt` (never back), with the job made for it when there is one. */
  advance(name: string, tickAt: number, jobId?: string): Promise<void>;
}

/** A store for engines without one: one process's memory (no catch-up after a restart). */
export class MemoryScheduleStore implements ScheduleStore {
  readonly #rows = new Map<string, ScheduleState>();

  async read(names: readonly string[]): Promise<Map<string, ScheduleState>> {
    const out = new Map<string, ScheduleState>();
    for (const n of names) {
      const row = this.#rows.get(n);
      if (row) out.set(n, { ...row });
    }
    return out;
  }

  async init(name: string, at: number): Promise<ScheduleState> {
    let row = this.#rows.get(name);
    if (!row) this.#rows.set(name, (row = { name, lastTickAt: at }));
    return { ...row };
  }

  async advance(name: string, tickAt: number, jobId?: string): Promise<void> {
    const row = this.#rows.get(name) ?? { name, lastTickAt: 0 };
    if (tickAt < row.lastTickAt) return;
    row.lastTickAt = tickAt;
    if (jobId !== undefined) row.lastJobId = jobId;
    this.#rows.set(name, row);
  }
}
