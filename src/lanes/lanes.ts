/**
 * The lanes of a runtime (`runtime.lanes`): the built-in `ai`, `data` and `io` lanes merged with
 * the `lanes` configuration, lanes added in code, their Prometheus figures and their shutdown.
 */
import { Counter, Gauge } from 'prom-client';
import { ClosedError, ConfigError, internalError, runtimeStateError, workError } from '../errors.js';
import type { AiClient } from '../ai/types.js';
import { laneSchema } from '../config/schema.js';
import { ResourceScope } from '../resources/scope.js';
import { waitAtMost } from '../util/async.js';
import type { Host } from '../runtime/host.js';
import { Lane } from './lane.js';
import type { LaneEnv, LaneOptions, LaneStats, ModuleRef, RunOptions, WorkFn } from './types.js';

/** The built-in lanes, sized after the workloads that motivated them; each is overridable in config. */
export const DEFAULT_LANES: Readonly<Record<string, Omit<LaneOptions, 'name'>>> = Object.freeze({
  /** AI calls: I/O-bound, on the loop. */
  ai: { placement: 'loop', concurrency: 10, maxQueue: 1000, timeoutMs: 30_000 },
  /** Data crunching (parsing, spreadsheets, scoring): CPU-bound, in threads. */
  data: { placement: 'thread', concurrency: 4, maxQueue: 1000, timeoutMs: 15_000 },
  /** Blocking file and library calls: in threads. */
  io: { placement: 'thread', concurrency: 4, maxQueue: 1000, timeoutMs: 30_000 },
});

/** Fields a configured lane without a built-in default falls back to (placement has none). */
const NEW_LANE_DEFAULTS = { concurrency: 1, maxQueue: 1000, timeoutMs: 30_000 } as const;

export interface LanesOptions {
  /** The orchestrator behind `ctx.ai` in lane work; asked for on each use, as it is built after the lanes. */
  ai?: () => AiClient | undefined;
}

export class Lanes {
  /** Resources opened on the main thread by loop work (`ctx.resource`). */
  readonly resources = new ResourceScope();
  readonly #runtime: Host;
  readonly #lanes = new Map<string, Lane>();
  readonly #env: LaneEnv;
  #closing?: Promise<void>;

  constructor(runtime: Host, options: LanesOptions = {}) {
    this.#runtime = runtime;
    this.#env = {
      ai: () => {
        const ai = options.ai?.();
        if (!ai) throw runtimeStateError('ctx.ai is not available: this runtime has no AI orchestrator (runtime.ai)');
        return ai;
      },
      resources: this.resources,
      tracing: runtime.tracing,
      reportError: (err, what) => {
        const e = internalError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        runtime.reportError(e);
      },
      log: (lane, msg, data, context) => runtime.log.info({ lane, ...context, ...data }, msg),
    };
    const configured = runtime.config.lanes ?? {};
    for (const name of new Set([...Object.keys(DEFAULT_LANES), ...Object.keys(configured)])) {
      const merged = {
        ...(Object.hasOwn(DEFAULT_LANES, name) ? DEFAULT_LANES[name] : {}),
        ...stripUndefined((Object.hasOwn(configured, name) ? configured[name] : undefined) ?? {}),
      };
      if (!merged.placement) {
        throw new ConfigError(`lanes.${name}.placement is required for a lane without a built-in default: set "loop" or "thread"`, {
          details: { setting: `lanes.${name}.placement` },
        });
      }
      this.#add({ ...NEW_LANE_DEFAULTS, ...merged, name } as LaneOptions, `lanes.${name}`);
    }
    this.#metrics();
    runtime.onClose('lanes', (info) => this.close({ deadlineMs: info?.remainingMs }));
  }

  /** The lane with that name; throws TL_ERR_LANE_UNKNOWN naming the lanes there are. */
  get(name: string): Lane {
    const lane = this.#lanes.get(name);
    if (!lane) {
      throw workError(
        'TL_ERR_LANE_UNKNOWN',
        `no lane named "${name}"; lanes: ${[...this.#lanes.keys()].join(', ')} (add one under "lanes" in the config)`,
        {
          details: { lane: name },
        },
      );
    }
    return lane;
  }

  has(name: string): boolean {
    return this.#lanes.has(name);
  }

  /** Adds a lane in code (same options as the config, validated the same way). */
  add(options: LaneOptions): Lane {
    this.#runtime.assertOpen('lanes');
    if (this.#lanes.has(options.name)) throw new ConfigError(`lane "${options.name}" already exists`, { details: { lane: options.name } });
    return this.#add(options, `lane "${options.name}"`);
  }

  /** Runs work in the named lane (see Lane.run). */
  run<O = unknown, I = unknown>(lane: string, work: WorkFn<I, O> | ModuleRef, input: I, opts?: RunOptions): Promise<O> {
    let target: Lane;
    try {
      target = this.get(lane);
    } catch (err) {
      return Promise.reject(err);
    }
    return target.run(work, input, opts);
  }

  stats(): Record<string, LaneStats> {
    const out: Record<string, LaneStats> = {};
    for (const [name, lane] of this.#lanes) out[name] = lane.stats();
    return out;
  }

  /**
   * Stops taking work, lets queued and running work finish for most of the deadline, then
   * rejects what is left with ClosedError (terminating its threads), closes every thread's
   * resources and pool, and the main-thread resources. Idempotent.
   */
  close(options: { deadlineMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#close(options.deadlineMs ?? this.#runtime.config.closeDeadlineMs);
    return this.#closing;
  }

  async #close(deadlineMs: number): Promise<void> {
    const started = performance.now();
    const left = () => Math.max(0, deadlineMs - (performance.now() - started));
    const lanes = [...this.#lanes.values()];
    for (const lane of lanes) lane.closeIntake();
    // Keep a share of the deadline for terminating threads and closing resources.
    await waitAtMost(Promise.all(lanes.map((l) => l.idle())), deadlineMs - Math.min(2_000, deadlineMs * 0.3));
    for (const lane of lanes) lane.stopAll(new ClosedError(`lane "${lane.name}"`));
    await Promise.all(lanes.map((l) => l.closeThreads(left() * 0.8)));
    await waitAtMost(
      this.resources.close().then((failures) => {
        for (const f of failures) this.#env.reportError(new Error(f.error), `closing resource "${f.name}" failed`);
      }),
      left(),
    );
  }

  #add(options: LaneOptions, where: string): Lane {
    const parsed = laneSchema.safeParse(stripName(options));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ConfigError(`${where}.${issue.path.join('.')}: ${issue.message}`, {
        details: { setting: `${where}.${issue.path.join('.')}` },
      });
    }
    const lane = new Lane({ ...parsed.data, name: options.name }, this.#env);
    this.#lanes.set(options.name, lane);
    return lane;
  }

  #metrics(): void {
    const registers = [this.#runtime.metrics];
    const each = (fn: (name: string, s: LaneStats) => void) => {
      for (const [name, lane] of this.#lanes) fn(name, lane.stats());
    };
    // Counted by the lanes themselves and copied at scrape time: a labelled inc() per task costs
    // more than the rest of a thread lane's bookkeeping.
    new Counter({
      name: 'tasklane_lane_tasks_total',
      help: 'Tasks settled per lane, by outcome (completed, failed, timed_out, aborted, rejected)',
      labelNames: ['lane', 'outcome'],
      registers,
      collect() {
        this.reset();
        each((lane, s) => {
          this.inc({ lane, outcome: 'completed' }, s.completed);
          this.inc({ lane, outcome: 'failed' }, s.failed);
          this.inc({ lane, outcome: 'timed_out' }, s.timedOut);
          this.inc({ lane, outcome: 'aborted' }, s.aborted);
          this.inc({ lane, outcome: 'rejected' }, s.rejected);
        });
      },
    });
    new Gauge({
      name: 'tasklane_lane_active',
      help: 'Tasks running per lane',
      labelNames: ['lane'],
      registers,
      collect() {
        each((lane, s) => this.set({ lane }, s.active));
      },
    });
    new Gauge({
      name: 'tasklane_lane_queued',
      help: 'Tasks waiting per lane',
      labelNames: ['lane'],
      registers,
      collect() {
        each((lane, s) => this.set({ lane }, s.queued));
      },
    });
    new Gauge({
      name: 'tasklane_lane_threads',
      help: 'Worker threads alive per thread lane',
      labelNames: ['lane'],
      registers,
      collect() {
        each((lane, s) => this.set({ lane }, s.threads));
      },
    });
    for (const [metric, key, help] of [
      ['tasklane_lane_wait_ms', 'waitMs', 'Time tasks waited in the lane queue, in ms'],
      ['tasklane_lane_run_ms', 'runMs', 'Time tasks ran, in ms'],
    ] as const) {
      new Gauge({
        name: metric,
        help,
        labelNames: ['lane', 'quantile'],
        registers,
        collect() {
          each((lane, s) => {
            const q = s[key];
            this.set({ lane, quantile: '0.5' }, q.p50);
            this.set({ lane, quantile: '0.9' }, q.p90);
            this.set({ lane, quantile: '0.99' }, q.p99);
            this.set({ lane, quantile: '1' }, q.max);
          });
        },
      });
    }
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function stripName(options: LaneOptions): Omit<LaneOptions, 'name'> {
  const { name: _name, ...rest } = options;
  return rest;
}
