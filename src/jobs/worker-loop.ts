/**
 * The worker loop: claims jobs while their lanes have a free slot (on a poll timer, and at once
 * after a local enqueue or a finished job), runs each in its task's lane, renews leases from the
 * main thread (so thread work cannot starve them) and picks up cancel requests there, recovers
 * expired leases, and finishes each attempt with its fencing token (one attempt's run and finish: attempt.ts).
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { AbortError, ClosedError, TasklaneError, toTasklaneError, withContext } from '../errors.js';
import type { Lanes } from '../lanes/lanes.js';
import type { Host } from '../runtime/host.js';
import { waitAtMost } from '../util/async.js';
import type { Claim, JobEngine } from './engine.js';
import type { EventHub } from './events/event-hub.js';
import { loseAttempt, runAttempt, statusOf, type Running } from './attempt.js';
import { attemptSpan, endAttemptSpan } from './job-trace.js';
import type { TaskRegistry } from './task-registry.js';
import type { JobMetrics } from './metrics.js';
import { WorkflowAttempt, type WorkflowDeps } from './workflow/attempt.js';
import type { JobRecord } from './types.js';

export interface WorkerLoopOptions {
  leaseMs: number;
  pollMs: number;
  cancelGraceMs: number;
  metrics?: JobMetrics;
  /** Hears background failures; default: the runtime's reportError. */
  onError?: (err: TasklaneError) => void;
  /** Workflow calls on tasks' ctx (src/jobs/workflow/). */
  workflows?: WorkflowDeps;
  /** Called when an attempt run here ended, however (per-task limits free a slot on it). */
  onAttemptEnded?: (job: JobRecord) => void;
}

/** Claims asked for per lane in one go. */
const MAX_CLAIMS_AT_ONCE = 32;

export class WorkerLoop {
  readonly workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #runtime: Host;
  readonly #lanes: Lanes;
  readonly #engine: JobEngine;
  readonly #hub: EventHub;
  readonly #tasks: TaskRegistry;
  readonly #opts: WorkerLoopOptions;
  readonly #running = new Map<string, Running>();
  /** Jobs claimed for a lane but not yet handed to it. */
  readonly #starting = new Map<string, number>();
  /** Lanes whose last claim found a job. */
  readonly #hot = new Set<string>();
  #pollTimer?: NodeJS.Timeout;
  #renewTimer?: NodeJS.Timeout;
  #recoverTimer?: NodeJS.Timeout;
  /** The claim pass in flight, if any (close() waits for it). */
  #ticking?: Promise<void>;
  #again = false;
  #wakeQueued = false;
  #stopped = true;
  #unsubscribeCancel?: () => void;

  constructor(runtime: Host, lanes: Lanes, engine: JobEngine, hub: EventHub, tasks: TaskRegistry, opts: WorkerLoopOptions) {
    this.#runtime = runtime;
    this.#lanes = lanes;
    this.#engine = engine;
    this.#hub = hub;
    this.#tasks = tasks;
    this.#opts = opts;
  }

  get active(): number {
    return this.#running.size;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    // Renew often enough to survive two missed renewals, and at least every second so cancel
    // requests from other processes arrive quickly.
    const renewEvery = Math.max(20, Math.min(1_000, Math.floor(this.#opts.leaseMs / 3)));
    this.#renewTimer = setInterval(() => this.#renewAll(), renewEvery);
    // Running jobs keep the process alive on their own; this timer must not once close() gave up
    // on a release stuck on a store that went away (it is cleared only after the releases).
    this.#renewTimer.unref();
    const recoverEvery = Math.max(50, Math.min(5_000, Math.floor(this.#opts.leaseMs / 2)));
    const recover = () => {
      this.#engine
        .recoverExpired()
        .then((moved) => moved > 0 && this.wake())
        .catch((err) => this.#report(err, 'recovering expired leases'));
    };
    this.#recoverTimer = setInterval(recover, recoverEvery);
    recover();
    // Engines that push cancel requests (Redis pub/sub) cut the wait for the next renewal.
    this.#unsubscribeCancel = this.#engine.onCancelRequested?.((jobId) => this.cancelLocal(jobId));
    this.wake();
  }

  /** Looks for work now (coalesced). */
  wake(): void {
    if (this.#stopped || this.#wakeQueued) return;
    this.#wakeQueued = true;
    setImmediate(() => {
      this.#wakeQueued = false;
      void this.#tick();
    });
  }

  /** Cancels a job running here: `cancel-requested`, then its signal aborts. False if it is not here. */
  cancelLocal(jobId: string): boolean {
    const r = this.#running.get(jobId);
    if (!r || r.released || r.lost) return false;
    if (!r.cancelled) {
      r.cancelled = true;
      r.live.emit('cancel-requested', {});
      r.controller.abort(new AbortError(`job ${jobId} was cancelled`));
    }
    return true;
  }

  /**
   * Stops claiming, lets running jobs finish until `deadlineMs`, then aborts the rest and gives
   * their leases back (queued again without counting the attempt), their events stored first.
   */
  async close(deadlineMs: number): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#pollTimer);
    clearInterval(this.#recoverTimer);
    this.#unsubscribeCancel?.();
    const started = performance.now();
    // A claim pass in flight hands back what it gets (see #tickBody), so nothing starts after
    // the snapshot of running jobs below.
    await waitAtMost(this.#ticking ?? Promise.resolve(), deadlineMs, { ref: true });
    await waitAtMost(Promise.all([...this.#running.values()].map((r) => r.done)), deadlineMs, { ref: true });
    const left = [...this.#running.values()];
    for (const r of left) {
      r.released = true;
      r.outcome = 'released';
      r.controller.abort(new ClosedError('job worker'));
      r.wakeRetry?.();
    }
    await Promise.all(
      left.map(async (r) => {
        try {
          await r.live.flush();
          const record = await this.#engine.release(r.job.id, r.token);
          this.#hub.endLive(r.live, record ? { record, ...statusOf(record, true) } : undefined);
        } catch (err) {
          this.#hub.endLive(r.live);
          this.#report(err, `releasing job ${r.job.id}`);
        }
      }),
    );
    clearInterval(this.#renewTimer);
    this.#runtime.log.debug({ released: left.length, ms: Math.round(performance.now() - started) }, 'job worker stopped');
  }

  #tick(): Promise<void> {
    if (this.#ticking) {
      this.#again = true;
      return this.#ticking;
    }
    this.#ticking = this.#tickBody().finally(() => {
      this.#ticking = undefined;
      if (!this.#stopped) this.#pollTimer = setTimeout(() => void this.#tick(), this.#opts.pollMs);
    });
    return this.#ticking;
  }

  async #tickBody(): Promise<void> {
    clearTimeout(this.#pollTimer);
    try {
      do {
        this.#again = false;
        while (!this.#stopped) {
          // One pass for every lane with a free slot: per lane, as many claims as it has free
          // slots (one while its tasks had nothing last time); the slots stay reserved until the
          // job is handed to the lane.
          const asks: Array<{ lane: string; tasks: string[]; n: number }> = [];
          for (const lane of new Set(this.#tasks.list().map((t) => t.lane))) {
            const n = Math.min(this.#hot.has(lane) ? MAX_CLAIMS_AT_ONCE : 1, this.#freeSlots(lane));
            if (n <= 0) continue;
            asks.push({ lane, tasks: this.#tasks.namesWhere((l) => l === lane), n });
            this.#reserve(lane, n);
            this.#hot.delete(lane);
          }
          if (asks.length === 0) break;
          const got = await this.#claimAll(asks);
          const claimed = got.reduce((sum, claims) => sum + claims.length, 0);
          asks.forEach((ask, i) => {
            const claims = got[i]!;
            // Slots asked for and not filled are free again.
            this.#reserve(ask.lane, claims.length - ask.n);
            if (claims.length > 0) this.#hot.add(ask.lane);
          });
          if (this.#stopped) {
            // close() began while the claims were in flight: hand them back, never start them.
            await this.#handBack(asks, got);
            break;
          }
          for (const claims of got) for (const claim of claims) this.#begin(claim);
          if (claimed === 0) break;
        }
      } while (this.#again && !this.#stopped);
    } catch (err) {
      this.#report(err, 'claiming jobs');
    }
  }

  /** The claim pass: one engine call when the engine takes a batch, else one claim() per slot. */
  async #claimAll(asks: ReadonlyArray<{ tasks: string[]; n: number }>): Promise<Claim[][]> {
    const leaseMs = this.#opts.leaseMs;
    if (this.#engine.claimBatch) {
      try {
        return await this.#engine.claimBatch(this.workerId, asks, leaseMs);
      } catch (err) {
        this.#report(err, 'claiming jobs');
        return asks.map(() => []);
      }
    }
    return Promise.all(
      asks.map(async (ask) => {
        const settled = await Promise.allSettled(
          Array.from({ length: ask.n }, () => this.#engine.claim(this.workerId, { tasks: ask.tasks, leaseMs })),
        );
        const claims: Claim[] = [];
        for (const s of settled) {
          if (s.status === 'rejected') this.#report(s.reason, 'claiming jobs');
          else if (s.value) claims.push(s.value);
        }
        return claims;
      }),
    );
  }

  /** Gives back claims that came back after close() began: queued again, the attempt not counted. */
  async #handBack(asks: ReadonlyArray<{ lane: string }>, got: Claim[][]): Promise<void> {
    await Promise.all(
      got.flatMap((claims, i) =>
        claims.map(async ({ job, token }) => {
          this.#reserve(asks[i]!.lane, -1);
          try {
            await this.#engine.release(job.id, token);
          } catch (err) {
            // The lease lapses and recovery takes the job back; the attempt counts then.
            this.#report(err, `handing back job ${job.id} claimed while closing`);
          }
        }),
      ),
    );
  }

  #reserve(lane: string, n: number): void {
    this.#starting.set(lane, (this.#starting.get(lane) ?? 0) + n);
  }

  #freeSlots(laneName: string): number {
    const lane = this.#lanes.get(laneName);
    return lane.options.concurrency - lane.active - lane.queued - (this.#starting.get(laneName) ?? 0);
  }

  #begin(claim: Claim): void {
    const { job, token } = claim;
    const task = this.#tasks.get(job.task);
    const controller = new AbortController();
    const r = { job, token, task, controller, cancelled: false, lost: false, released: false, finishing: false } as Running;
    r.live = this.#hub.startLive(job, token, task.progress?.coalesceMs ?? 0, (err) => this.#lose(r, err));
    if (this.#opts.workflows) {
      r.flow = new WorkflowAttempt(this.#opts.workflows, {
        job,
        token,
        live: r.live,
        signal: controller.signal,
        // No renewal while the park is written: it drops the lease, and a renewal racing it would read as a lost lease.
        parking: (on) => {
          if (!r.parked && !r.lost) r.finishing = on;
        },
        parked: (record) => {
          r.parked = record;
          r.finishing = true;
          r.outcome = 'parked';
          controller.abort(new AbortError(`job ${job.id} parked`));
        },
      });
    }
    this.#running.set(job.id, r);
    if (this.#runtime.tracing.enabled) r.span = attemptSpan(this.#runtime.tracing, job, this.workerId);
    const started = performance.now();
    r.done = this.#run(r).finally(() => {
      if (r.span) endAttemptSpan(r.span, r.end);
      // A parked job can be woken and claimed again here before this attempt's end runs: keep the new one.
      if (this.#running.get(job.id) === r) this.#running.delete(job.id);
      this.#opts.metrics?.attemptEnded(task.name, r.outcome ?? 'lost', performance.now() - started);
      this.#opts.onAttemptEnded?.(job);
      this.wake();
    });
  }

  #run(r: Running): Promise<void> {
    return runAttempt(r, {
      host: this.#runtime,
      lanes: this.#lanes,
      engine: this.#engine,
      hub: this.#hub,
      tasks: this.#tasks,
      cancelGraceMs: this.#opts.cancelGraceMs,
      handOver: () => this.#reserve(r.task.lane, -1),
      report: (err, what) => this.#report(err, what),
    });
  }

  /** The attempt lost its lease: stop it and keep nothing it produces. */
  #lose(r: Running, err: TasklaneError): void {
    loseAttempt(r, err, this.#runtime, this.#hub);
  }

  #renewAll(): void {
    for (const r of this.#running.values()) {
      if (r.lost || r.finishing || r.released) continue;
      this.#engine.renew(r.job.id, r.token, this.#opts.leaseMs).then(
        ({ cancelRequested }) => {
          if (cancelRequested && !r.released) this.cancelLocal(r.job.id);
        },
        (err) => {
          const e = toTasklaneError(err);
          // A renewal that crossed the attempt's own finish or release is not a loss.
          if (r.finishing || r.released) return;
          if (e.code === 'TL_ERR_JOB_LEASE_LOST' || e.code === 'TL_ERR_JOB_NOT_FOUND') this.#lose(r, e);
          else this.#report(e, `renewing the lease of job ${r.job.id}`);
        },
      );
    }
  }

  #report(err: unknown, what: string): void {
    const e = toTasklaneError(err);
    const wrapped = withContext(e, `${what}: ${e.message}`);
    if (this.#opts.onError) this.#opts.onError(wrapped);
    else this.#runtime.reportError(wrapped);
  }
}
