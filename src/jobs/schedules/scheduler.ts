/**
 * Schedules: a job per cron tick, once across a fleet. Every process that runs the job system arms
 * a timer for each schedule's next tick; at the tick each enqueues with the same tick-derived
 * idempotency key, so the store keeps one job. The store's schedule state (the latest tick dealt
 * with) makes a restart run only the latest tick missed while down, once.
 */
import { ConfigError, type TasklaneError, jobsError } from '../../errors.js';
import { FINAL_STATES, type EnqueueOptions, type JobRecord, type ScheduleDef, type ScheduleInfo } from '../types.js';
import { CronTicks, cronProblem, isTimeZone } from './cron.js';
import type { ScheduleStore } from './store.js';

export interface SchedulerHost {
  enqueue(task: string, input: unknown, opts: EnqueueOptions): Promise<JobRecord>;
  get(id: string): Promise<JobRecord | undefined>;
  hasTask(name: string): boolean;
  log: { info(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  report(err: TasklaneError): void;
}

interface Entry {
  def: Required<Omit<ScheduleDef, 'input'>> & { input: unknown };
  ticks: CronTicks;
  timer?: NodeJS.Timeout;
  /** The tick being fired (one at a time per schedule). */
  firing?: Promise<void>;
}

/** Longest single timer (setTimeout's limit); farther ticks re-arm on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const NAME = /^[A-Za-z0-9._:-]{1,100}$/;

/** The tick's idempotency key: the same in every process, so a fleet makes one job per tick. */
export function tickKey(name: string, tickAt: number): string {
  return `schedule:${name}:${new Date(tickAt).toISOString()}`;
}

/** A schedule definition checked and with its defaults; throws ConfigError naming `where`. */
export function checkSchedule(def: ScheduleDef, where = 'schedule'): Entry['def'] {
  const bad = (field: string, why: string) => new ConfigError(`${where}.${field}: ${why}`, { details: { schedule: def?.name } });
  if (typeof def?.name !== 'string' || !NAME.test(def.name)) throw bad('name', 'must be 1 to 100 of letters, digits and . _ : -');
  if (typeof def.task !== 'string' || def.task.length === 0) throw bad('task', 'must name a task');
  if (typeof def.cron !== 'string') throw bad('cron', 'must be a cron expression such as "0 2 * * *"');
  const problem = cronProblem(def.cron);
  if (problem) throw bad('cron', `"${def.cron}" is not a cron expression (${problem}); use 5 fields, or 6 with seconds first`);
  const timezone = def.timezone ?? 'UTC';
  if (typeof timezone !== 'string' || !isTimeZone(timezone))
    throw bad('timezone', `"${String(timezone)}" is not an IANA time zone (e.g. "UTC", "Europe/Paris")`);
  const overlap = def.overlap ?? 'skip';
  if (overlap !== 'skip' && overlap !== 'allow') throw bad('overlap', `must be "skip" or "allow", got ${JSON.stringify(overlap)}`);
  return { name: def.name, task: def.task, cron: def.cron, timezone, overlap, input: def.input ?? null };
}

export class Scheduler {
  readonly #host: SchedulerHost;
  readonly #store: ScheduleStore;
  readonly #entries = new Map<string, Entry>();
  #running = false;

  constructor(host: SchedulerHost, store: ScheduleStore) {
    this.#host = host;
    this.#store = store;
  }

  /** Adds a schedule before start (the config's); start() checks its task. */
  define(def: ScheduleDef, where?: string): Entry {
    const checked = checkSchedule(def, where);
    if (this.#entries.has(checked.name))
      throw jobsError('TL_ERR_SCHEDULE_EXISTS', `a schedule named "${checked.name}" already exists`, {
        details: { schedule: checked.name },
      });
    const entry: Entry = { def: checked, ticks: new CronTicks(checked) };
    if (this.#running) this.#assertTask(entry, where);
    this.#entries.set(checked.name, entry);
    return entry;
  }

  /** Adds a schedule; once started, it checks the task and arms at once. */
  async add(def: ScheduleDef, where?: string): Promise<ScheduleInfo> {
    const entry = this.define(def, where);
    if (!this.#running) {
      // Before start the store may not be open yet: nothing has run, so nothing to read.
      const next = entry.ticks.next(Date.now());
      return { ...entry.def, nextRunAt: next === undefined ? null : new Date(next).toISOString(), lastRunAt: null, lastJobId: null };
    }
    await this.#catchUp(entry);
    return (await this.list([entry.def.name]))[0]!;
  }

  /** Checks every schedule's task, runs the latest tick missed while no process ran, arms the timers. */
  async start(): Promise<void> {
    for (const [i, e] of [...this.#entries.values()].entries()) this.#assertTask(e, `schedules[${i}]`);
    this.#running = true;
    await Promise.all([...this.#entries.values()].map((e) => this.#catchUp(e)));
  }

  /** Stops the timers and waits for ticks being fired. */
  async stop(): Promise<void> {
    this.#running = false;
    for (const e of this.#entries.values()) clearTimeout(e.timer);
    await Promise.allSettled([...this.#entries.values()].map((e) => e.firing));
  }

  async list(names = [...this.#entries.keys()]): Promise<ScheduleInfo[]> {
    const states = await this.#store.read(names);
    const now = Date.now();
    return names.map((name) => {
      const { def, ticks } = this.#entries.get(name)!;
      const st = states.get(name);
      const next = ticks.next(now);
      return {
        ...def,
        nextRunAt: next === undefined ? null : new Date(next).toISOString(),
        lastRunAt: st?.lastJobId ? new Date(st.lastTickAt).toISOString() : null,
        lastJobId: st?.lastJobId ?? null,
      };
    });
  }

  #assertTask(e: Entry, where = 'schedule'): void {
    if (!this.#host.hasTask(e.def.task))
      throw new ConfigError(
        `${where}.task: schedule "${e.def.name}" names task "${e.def.task}", which is not registered; register it (jobs.modules) or fix the name`,
        { details: { schedule: e.def.name, task: e.def.task } },
      );
  }

  /** On start: a schedule never seen before starts from now; else the latest tick missed runs once. */
  async #catchUp(e: Entry): Promise<void> {
    const now = Date.now();
    try {
      const st = (await this.#store.read([e.def.name])).get(e.def.name) ?? (await this.#store.init(e.def.name, now));
      const missed = e.ticks.latest(now);
      if (missed !== undefined && missed > st.lastTickAt) await this.#fire(e, missed, true);
    } catch (err) {
      this.#host.report(err as TasklaneError);
    }
    this.#arm(e, now);
  }

  #arm(e: Entry, after: number): void {
    clearTimeout(e.timer);
    if (!this.#running) return;
    const next = e.ticks.next(after);
    if (next === undefined) return;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, next - Date.now()));
    e.timer = setTimeout(() => {
      // A timer can fire a little early; a far tick re-arms on the way.
      if (Date.now() < next) return this.#arm(e, after);
      e.firing = this.#fire(e, next, false)
        .catch((err) => this.#host.report(err as TasklaneError))
        .finally(() => {
          e.firing = undefined;
          this.#arm(e, Math.max(next, Date.now()));
        });
    }, wait);
  }

  /** One tick: skipped while the previous job of this schedule has not ended (overlap 'skip'). */
  async #fire(e: Entry, tickAt: number, missed: boolean): Promise<void> {
    const { name, task, input, overlap } = e.def;
    if (overlap === 'skip') {
      const st = (await this.#store.read([name])).get(name);
      const prev = st?.lastJobId ? await this.#host.get(st.lastJobId) : undefined;
      if (prev && !FINAL_STATES.has(prev.state) && prev.idempotencyKey !== tickKey(name, tickAt)) {
        await this.#store.advance(name, tickAt);
        this.#host.log.info(
          { schedule: name, jobId: prev.id, state: prev.state },
          `schedule ${name}: tick skipped, the previous job has not ended`,
        );
        return;
      }
    }
    const job = await this.#host.enqueue(task, input, { idempotencyKey: tickKey(name, tickAt) });
    await this.#store.advance(name, tickAt, job.id);
    this.#host.log.debug({ schedule: name, jobId: job.id, tick: new Date(tickAt).toISOString(), missed }, `schedule ${name}: tick`);
  }
}
