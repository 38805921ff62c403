/**
 * Per-task limits as an engine keeps them: a job of a task with `rateLimit` or `concurrency` is
 * stored held back (its state reads `queued`) in its group, and a pump of the group admits as many
 * held jobs to the ready queue as the limits allow, atomically across the fleet.
 *
 * Concurrency counts a group's admitted jobs that have not ended (queued past the gate, delayed for
 * a retry, running); rate counts admissions in the sliding window of `periodMs`.
 */
export interface LimitSpec {
  concurrency?: number;
  rate?: { limit: number; periodMs: number };
}

export interface PumpResult {
  /** Jobs moved to the ready queue by this pump. */
  admitted: number;
  /** Jobs still held in the group. */
  held: number;
  /** When a held job can next be admitted without a slot freeing (a token back, a delay due); epoch ms. */
  nextAt?: number;
}

export interface LimitStore {
  /** Admits what the group's limits allow among its held jobs that are due, highest priority then oldest first. */
  pump(task: string, group: string, spec: LimitSpec): Promise<PumpResult>;
  /** The groups that hold jobs now (for the job system's safety sweep). */
  heldGroups(): Promise<Array<{ task: string; group: string }>>;
}
