/**
 * The job system's schedules and per-task limits in one place: the Scheduler (schedules/) and the
 * LimitGate (limits/) on the engine's stores, and the hooks the job system calls around enqueue,
 * job ends, cancel and retry.
 */
import { ConfigError, type TasklaneError } from '../errors.js';
import type { Host } from '../runtime/host.js';
import type { JobEngine } from './engine.js';
import { LimitGate } from './limits/gate.js';
import { groupOf } from './limits/spec.js';
import { Scheduler, type SchedulerHost } from './schedules/scheduler.js';
import { MemoryScheduleStore } from './schedules/store.js';
import type { TaskRegistry } from './task-registry.js';
import type { JobRecord, TaskDef } from './types.js';

export interface SchedulesLimitsOptions {
  engine: JobEngine;
  registry: TaskRegistry;
  host: Host;
  enqueue: SchedulerHost['enqueue'];
  /** Admitted jobs are ready: the worker looks for work. */
  wake(): void;
  report(err: TasklaneError): void;
}

export class SchedulesLimits {
  readonly scheduler: Scheduler;
  /** Undefined when the engine keeps no limit groups. */
  readonly gate?: LimitGate;
  readonly #engineKind: string;

  constructor(o: SchedulesLimitsOptions) {
    this.#engineKind = o.engine.kind;
    if (o.engine.limits) {
      this.gate = new LimitGate({
        store: o.engine.limits,
        task: (name) => (o.registry.has(name) ? o.registry.get(name) : undefined),
        wake: o.wake,
        report: o.report,
      });
    }
    this.scheduler = new Scheduler(
      { enqueue: o.enqueue, get: (id) => o.engine.get(id), hasTask: (name) => o.registry.has(name), log: o.host.log, report: o.report },
      o.engine.schedules ?? new MemoryScheduleStore(),
    );
    o.host.config.schedules.forEach((s, i) => this.scheduler.define(s, `schedules[${i}]`));
  }

  /** The group a new job of `def` goes in (undefined: the task has no limits). */
  groupOf(def: TaskDef, input: unknown): string | undefined {
    const group = groupOf(def, input);
    if (group !== undefined && !this.gate)
      throw new ConfigError(`task "${def.name}" has rateLimit/concurrency, which the ${this.#engineKind} job engine does not keep`, {
        details: { task: def.name },
      });
    return group;
  }

  /** Jobs of limited tasks wait held in their group: its gate admits them at once when the limits allow. */
  async admit(jobs: readonly JobRecord[]): Promise<void> {
    const groups = new Map<string, [string, string]>();
    for (const j of jobs) if (j.group !== undefined) groups.set(JSON.stringify([j.task, j.group]), [j.task, j.group]);
    if (groups.size > 0) await Promise.all([...groups.values()].map(([task, group]) => this.gate?.pump(task, group)));
  }

  /** A job of a limited task ended or moved: its group may have room now. */
  freed(job: JobRecord): void {
    if (job.group !== undefined) void this.gate?.pump(job.task, job.group);
  }

  /** After the task modules are loaded: unknown schedule tasks stop the start here. */
  async start(): Promise<void> {
    this.gate?.start();
    await this.scheduler.start();
  }
}
