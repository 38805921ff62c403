/**
 * The job system's side of per-task limits: pumps a group's gate (limits/types.ts) when something
 * may have freed room in it — a job of it enqueued, ended here, cancelled or retried — and at the
 * next time the store says a held job becomes eligible (a rate token back, a delay due). Never on
 * a tight loop: between those, one sweep every SWEEP_MS pumps the groups that hold jobs, which
 * also covers room freed by a process that died.
 */
import { toTasklaneError, type TasklaneError } from '../../errors.js';
import type { TaskDef } from '../types.js';
import { limitSpecOf } from './spec.js';
import type { LimitStore } from './types.js';

export interface GateOptions {
  store: LimitStore;
  task(name: string): TaskDef | undefined;
  /** Admitted jobs are ready: look for work now. */
  wake(): void;
  report(err: TasklaneError): void;
  sweepMs?: number;
}

const SWEEP_MS = 5_000;

interface GroupState {
  running?: Promise<void>;
  again: boolean;
  timer?: NodeJS.Timeout;
  timerAt?: number;
}

export class LimitGate {
  readonly #o: GateOptions;
  readonly #groups = new Map<string, GroupState>();
  #sweep?: NodeJS.Timeout;
  #stopped = true;
  /** Pumps sent to the store (tests read it to see that a held job costs no busy loop). */
  pumps = 0;

  constructor(options: GateOptions) {
    this.#o = options;
  }

  start(): void {
    this.#stopped = false;
    const every = this.#o.sweepMs ?? SWEEP_MS;
    this.#sweep = setInterval(() => void this.#sweepOnce(), every);
    this.#sweep.unref();
    void this.#sweepOnce();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweep);
    for (const g of this.#groups.values()) clearTimeout(g.timer);
    await Promise.allSettled([...this.#groups.values()].map((g) => g.running));
  }

  /**
   * Admits what the group's limits allow now (coalesced: one pump per group at a time, and one more
   * after it when asked meanwhile). Resolves once that pump is done; failures are reported.
   */
  pump(task: string, group: string): Promise<void> {
    // Before start (the sweep at start pumps every group) and after stop: nothing.
    if (this.#stopped) return Promise.resolve();
    const id = JSON.stringify([task, group]);
    let g = this.#groups.get(id);
    if (!g) this.#groups.set(id, (g = { again: false }));
    if (g.running) {
      g.again = true;
      return g.running;
    }
    const state = g;
    state.running = (async () => {
      do {
        state.again = false;
        await this.#pumpOnce(task, group, state);
      } while (state.again && !this.#stopped);
    })().finally(() => {
      state.running = undefined;
      if (!state.timer) this.#groups.delete(id);
    });
    return state.running;
  }

  async #pumpOnce(task: string, group: string, g: GroupState): Promise<void> {
    const def = this.#o.task(task);
    const spec = def && limitSpecOf(def);
    if (!spec) return;
    try {
      this.pumps++;
      const r = await this.#o.store.pump(task, group, spec);
      if (r.admitted > 0) this.#o.wake();
      if (r.nextAt !== undefined && r.held > 0) this.#at(task, group, g, r.nextAt);
    } catch (err) {
      this.#o.report(toTasklaneError(err));
    }
  }

  /** Pumps the group again at `at` (the earliest time asked for wins). */
  #at(task: string, group: string, g: GroupState, at: number): void {
    if (this.#stopped || (g.timer && g.timerAt! <= at)) return;
    clearTimeout(g.timer);
    g.timerAt = at;
    g.timer = setTimeout(
      () => {
        g.timer = undefined;
        g.timerAt = undefined;
        void this.pump(task, group);
      },
      Math.max(1, at - Date.now()),
    );
  }

  async #sweepOnce(): Promise<void> {
    if (this.#stopped) return;
    try {
      const groups = await this.#o.store.heldGroups();
      await Promise.all(groups.filter((g) => this.#o.task(g.task)).map((g) => this.pump(g.task, g.group)));
    } catch (err) {
      this.#o.report(toTasklaneError(err));
    }
  }
}
