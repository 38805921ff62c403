/**
 * Cron expressions through croner (5 fields, or 6 with seconds first), in an IANA time zone.
 * Only this file knows the library.
 */
import { Cron } from 'croner';

export interface CronSpec {
  cron: string;
  timezone: string;
}

/** Why the expression cannot be used, or undefined when it can. */
export function cronProblem(cron: string): string | undefined {
  try {
    const c = new Cron(cron, { paused: true, timezone: 'UTC', mode: '5-or-6-parts' });
    if (!c.nextRun()) return 'it never fires';
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^CronPattern: /, '');
  }
}

/** Whether this runtime knows the IANA time zone (e.g. `Europe/Paris`, `UTC`). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The schedule's ticks: the next one after a time, and the latest one at or before a time. */
export class CronTicks {
  readonly #cron: Cron;

  constructor(spec: CronSpec) {
    this.#cron = new Cron(spec.cron, { paused: true, timezone: spec.timezone, mode: '5-or-6-parts' });
  }

  /** The first tick strictly after `after` (epoch ms), or undefined when there is none. */
  next(after: number): number | undefined {
    return this.#cron.nextRun(new Date(after))?.getTime();
  }

  /** The latest tick at or before `at` (epoch ms), or undefined. */
  latest(at: number): number | undefined {
    // previousRuns includes a tick earlier in the same second; a tick later in that second is not due yet.
    const [prev] = this.#cron.previousRuns(1, new Date(at));
    const t = prev?.getTime();
    return t !== undefined && t <= at ? t : undefined;
  }
}
