/** The public shapes of schedules (re-exported by jobs/types.ts). Types only. */

/** A cron schedule: one job of `task` per tick, fleet-wide. */
export interface ScheduleDef {
  /** Unique; letters, digits and . _ : - (part of each tick's idempotency key). */
  name: string;
  task: string;
  /** 5 fields (minute first), or 6 with seconds first. */
  cron: string;
  /** IANA time zone the fields are read in. Default 'UTC'. */
  timezone?: string;
  /** The input of every job. Default null. */
  input?: unknown;
  /** 'skip' (default): no job for a tick while the previous one from this schedule has not ended; 'allow': one per tick regardless. */
  overlap?: 'skip' | 'allow';
}

export interface ScheduleInfo {
  name: string;
  task: string;
  cron: string;
  timezone: string;
  overlap: 'skip' | 'allow';
  input: unknown;
  /** ISO time of the next tick (null when the expression has none left). */
  nextRunAt: string | null;
  /** ISO time of the tick that made the latest job, and that job. */
  lastRunAt: string | null;
  lastJobId: string | null;
}
