/**
 * The BullMQ side of the Redis engine: one queue (producer) and one worker (consumer, never run,
 * only asked for jobs) per task, dispatch of a job id with its priority and delay, and the claim
 * throttling that keeps a dry queue from costing a BullMQ script per free slot.
 */
import { createRedisBackend, Queue, Worker, type Job } from 'bullmq';
import type { RedisConnections } from './connections.js';
import { bull } from './common.js';
import { queueName, type Keys } from './keys.js';

const MAX_BULL_PRIORITY = 2_097_151;
/**
 * A worker asks for as many jobs as it has free slots, all at once; when the queue runs dry most
 * of those asks would each cost a BullMQ script for nothing. So: at most CLAIM_PARALLEL asks per
 * task in flight, and for DRAIN_HOLD_MS after one came back empty the others answer "none" at
 * once (a local enqueue ends the hold; jobs from elsewhere wait at most for the next poll). 16 in
 * flight: each claim is two round trips (BullMQ's fetch, then our record), so 4 left the worker
 * waiting on the network (about 15 % more jobs/s in a no-op drain at 16; bench/README.md).
 */
const CLAIM_PARALLEL = 16;
const DRAIN_HOLD_MS = 25;
/** Per-queue priority counter width in BullMQ's prioritized score (priority * 2^32 + counter). */
const PRIORITY_SHIFT = 0x100000000;

export interface DispatchOptions {
  conn: RedisConnections;
  keys: Keys;
  leaseMs: number;
  recoverEveryMs?: number;
  report: (err: Error, what: string) => void;
  /** BullMQ's stalled checker found a job of `task` whose lock is gone. */
  onStalled: (task: string, jobId: string) => void;
}

export class BullDispatch {
  readonly #o: DispatchOptions;
  /** Producers and consumers, one per task, created on first use. */
  readonly #queues = new Map<string, Queue>();
  readonly #workers = new Map<string, Worker>();
  #rotate = 0;
  /** Per task: when BullMQ last had nothing to hand out (claims skip it for DRAIN_HOLD_MS). */
  readonly #drainedAt = new Map<string, number>();
  /** Per task: bumped by every local dispatch, so a claim that started before it cannot mark the task dry. */
  readonly #dispatches = new Map<string, number>();
  /** Per task: claims waiting for one of the CLAIM_PARALLEL slots. */
  readonly #claimSlots = new Map<string, { busy: number; waiting: Array<() => void> }>();

  constructor(options: DispatchOptions) {
    this.#o = options;
  }

  // BullMQ shares our connections, so a record write and the BullMQ step after it go down one
  // socket in order: a worker never sees a job before its record, and the pair costs one round trip.
  queue(task: string): Queue {
    let q = this.#queues.get(task);
    if (!q) {
      q = new Queue(queueName(task), { connection: this.#o.conn.commands, prefix: this.#o.keys.prefix });
      q.on('error', (err) => this.#o.report(err, 'queue'));
      this.#queues.set(task, q);
    }
    return q;
  }

  #worker(task: string): Worker {
    let w = this.#workers.get(task);
    if (!w) {
      w = new Worker(
        queueName(task),
        null,
        {
          connection: this.#o.conn.work,
          prefix: this.#o.keys.prefix,
          autorun: false,
          lockDuration: this.#o.leaseMs,
          // Leases are renewed by the job system (renew()), so a stuck lane cannot keep a dead job alive.
          skipLockRenewal: true,
          stalledInterval: this.#o.recoverEveryMs ?? Math.max(250, Math.floor(this.#o.leaseMs / 2)),
          // A stalled job goes back to wait every time; whether the attempt counts is the record's call.
          maxStalledCount: 1_000_000,
        },
        // Share the work connection; claims never block on Redis, so no blocking connection either.
        (name, opts) => createRedisBackend(name, opts, { blocking: false, withBlockingConnection: false }),
      );
      w.on('error', (err) => this.#o.report(err, 'worker'));
      w.on('stalled', (jobId) => this.#o.onStalled(task, jobId));
      void w.startStalledCheckTimer().catch((err) => this.#o.report(err as Error, 'stalled checker'));
      this.#workers.set(task, w);
    }
    return w;
  }

  /** Hands the job to BullMQ. BullMQ's add is idempotent per job id. */
  dispatch(id: string, task: string, priority: number, delayMs: number): Promise<unknown> {
    // Bumped when the add is sent and again once it landed: a claim that overlaps it in any way
    // cannot mark the task dry.
    const bump = () => {
      this.#drainedAt.delete(task);
      this.#dispatches.set(task, (this.#dispatches.get(task) ?? 0) + 1);
    };
    if (delayMs <= 0) bump();
    const added = this.queue(task).add(task, null, {
      jobId: id,
      delay: delayMs > 0 ? delayMs : undefined,
      // BullMQ runs a lower number first, tasklane a higher priority first. Every job gets one, so FIFO holds within a priority.
      priority: Math.min(MAX_BULL_PRIORITY, Math.max(1, 1_048_576 - Math.round(priority))),
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: true,
    });
    return bull(delayMs <= 0 ? added.finally(bump) : added);
  }

  /** Takes the job out of BullMQ (best effort: -1 when it failed, 0 when it was not there or is locked). */
  remove(task: string, id: string): Promise<number> {
    return this.queue(task)
      .remove(id)
      .catch(() => -1);
  }

  /**
   * Tasks in the order to try: the one whose best waiting job has the highest priority first (one
   * pipelined peek at each queue's prioritized set), then the rest in rotation so none starves.
   */
  async claimOrder(tasks: readonly string[]): Promise<string[]> {
    const start = this.#rotate++ % tasks.length;
    const rotated = [...tasks.slice(start), ...tasks.slice(0, start)];
    if (rotated.length === 1) return rotated;
    const pipe = this.#o.conn.work.pipeline();
    for (const t of rotated) pipe.zrange(this.#o.keys.prioritized(t), 0, 0, 'WITHSCORES');
    const rows = (await pipe.exec()) ?? [];
    const best = rotated
      .map((task, i) => {
        const r = rows[i]?.[1] as string[] | undefined;
        return { task, i, score: r && r.length === 2 ? Math.floor(Number(r[1]) / PRIORITY_SHIFT) : Number.POSITIVE_INFINITY };
      })
      .sort((a, b) => a.score - b.score || a.i - b.i);
    return best.map((b) => b.task);
  }

  #drained(task: string): boolean {
    const at = this.#drainedAt.get(task);
    return at !== undefined && Date.now() - at < DRAIN_HOLD_MS;
  }

  /**
   * Runs `take` for `task` within the task's CLAIM_PARALLEL slots, or answers undefined at once
   * while the task is held as dry. `take` gets `next`, which asks BullMQ for one job locked with
   * the token (undefined when there is none, which marks the task dry).
   */
  async throttled<T>(
    task: string,
    take: (next: (token: string) => Promise<Job | undefined>) => Promise<T | undefined>,
  ): Promise<T | undefined> {
    if (this.#drained(task)) return undefined;
    let slot = this.#claimSlots.get(task);
    if (!slot) this.#claimSlots.set(task, (slot = { busy: 0, waiting: [] }));
    if (slot.busy >= CLAIM_PARALLEL) await new Promise<void>((resolve) => slot!.waiting.push(resolve));
    else slot.busy++;
    try {
      if (this.#drained(task)) return undefined;
      return await take((token) => this.#next(task, token));
    } finally {
      // Hand the slot straight to the next waiter (busy stays the same), or free it.
      const next = slot.waiting.shift();
      if (next) next();
      else slot.busy--;
    }
  }

  async #next(task: string, token: string): Promise<Job | undefined> {
    const seen = this.#dispatches.get(task) ?? 0;
    const job = (await bull(this.#worker(task).getNextJob(token, { block: false }))) as Job | undefined;
    if (job?.id) return job;
    if ((this.#dispatches.get(task) ?? 0) === seen) this.#drainedAt.set(task, Date.now());
    return undefined;
  }

  /** Closes the workers and queues, each bounded even when Redis is down. */
  async close(): Promise<void> {
    const bounded = (p: Promise<unknown>, ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        // A bound, not a reason to stay alive: a BullMQ close stuck on a dead Redis must not hold the process.
        t.unref();
        p.catch(() => {}).finally(() => {
          clearTimeout(t);
          resolve();
        });
      });
    await Promise.all([...this.#workers.values()].map((w) => bounded(w.close(true), 2_000).then(() => bounded(w.disconnect(), 500))));
    await Promise.all([...this.#queues.values()].map((q) => bounded(q.close(), 2_000)));
  }
}
