/**
 * Where spend lives: per client key, tenant and provider, by UTC day and month, plus the cost of
 * each job (and step), and the per-minute token windows of `limits.tokensPerMinute`. SQLite by
 * default (sqlite-spend-store.ts), Redis in a fleet (shared/redis-spend-store.ts), so every
 * server of a fleet sees one total. Types only.
 */

/** What one answer charged, and to whom. */
export interface SpendCharge {
  /** Epoch ms of the answer (picks the UTC day and month). */
  at: number;
  key?: string;
  tenant?: string;
  provider: string;
  usd: number;
  tokens: number;
  job?: { id: string; step?: string };
}

export type SpendScope = 'key' | 'tenant' | 'provider';

export interface SpendFigures {
  usd: number;
  tokens: number;
  requests: number;
}

export interface SpendRow {
  scope: SpendScope;
  name: string;
  day: SpendFigures;
  month: SpendFigures;
}

/** What a job's AI calls cost: the whole, and per step when calls were made inside steps. */
export interface JobCost {
  usd: number;
  steps?: Record<string, number>;
}

/** Outcome of a token reservation in the current minute window. */
export type Reservation = { ok: true; window: number } | { ok: false; retryAfterMs: number; used: number };

export interface SpendStore {
  /** Adds an answer's cost and tokens to its key, tenant and provider, day and month, and to its job. */
  charge(c: SpendCharge): Promise<void>;
  /** USD spent by a key or tenant in the UTC day and month of `at`. */
  spent(scope: 'key' | 'tenant', name: string, at: number): Promise<{ day: number; month: number }>;
  /** Every key, tenant and provider with spend this UTC month (day figures for the day of `at`). */
  report(at: number): Promise<SpendRow[]>;
  jobCost(jobId: string): Promise<JobCost | undefined>;
  /**
   * Reserves `tokens` for a key in the minute of `at` unless that would pass `limit`; a request
   * alone in an empty window always passes (it could never run otherwise). Atomic: concurrent
   * reservations never pass the limit together.
   */
  reserveTokens(key: string, tokens: number, limit: number, at: number): Promise<Reservation>;
  /** Replaces a reservation by what the answer used (0 when it failed). */
  settleTokens(key: string, window: number, reserved: number, used: number): Promise<void>;
  close(): Promise<void>;
}

export const MINUTE_MS = 60_000;

/** `YYYY-MM-DD` and `YYYY-MM` of an instant, in UTC. */
export function periodsOf(at: number): { day: string; month: string } {
  const iso = new Date(at).toISOString();
  return { day: iso.slice(0, 10), month: iso.slice(0, 7) };
}

/** The next UTC midnight and first of the month after `at`, epoch ms. */
export function resetsOf(at: number): { day: number; month: number } {
  const d = new Date(at);
  return {
    day: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1),
    month: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
}

/** Per-minute token windows in memory (one process: the SQLite store's, and a test double of nothing). */
export class MemoryTokenWindows {
  readonly #used = new Map<string, { window: number; used: number }>();

  reserve(key: string, tokens: number, limit: number, at: number): Reservation {
    const window = Math.floor(at / MINUTE_MS);
    let w = this.#used.get(key);
    if (!w || w.window !== window) {
      w = { window, used: 0 };
      this.#used.set(key, w);
    }
    if (w.used > 0 && w.used + tokens > limit) return { ok: false, retryAfterMs: (window + 1) * MINUTE_MS - at, used: w.used };
    w.used += tokens;
    return { ok: true, window };
  }

  settle(key: string, window: number, reserved: number, used: number): void {
    const w = this.#used.get(key);
    if (w && w.window === window) w.used = Math.max(0, w.used + used - reserved);
  }
}
