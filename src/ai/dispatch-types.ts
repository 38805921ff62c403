import type { Logger } from '../runtime/index.js';
import type { BreakerBoard } from './breaker.js';
import type { KeyLease, KeyPool } from './key-pool.js';
import type { AiMetrics } from './metrics.js';
import type { LanguageModel, PhaseTimeouts } from './provider.js';
import type { Route, RouteTarget } from './route.js';
import type { AttemptOutcome, ServedBy } from './types.js';
import type { Tracing } from '../telemetry/tracing.js';

/**
 * The shapes the attempt loop (dispatch.ts) shares with its callers and with what hooks into it
 * (cost, tracing, the request log). Who an attempt went to is `ServedBy` (ai/types.ts), declared
 * once; these types build on it.
 */

/** One configured provider: its adapter, its keys, its logger. */
export interface ProviderEntry {
  name: string;
  model: LanguageModel;
  pool: KeyPool;
  log: Logger;
}

/** What one upstream attempt was and how it ended; never the key, only its index. */
export type AttemptRecord = AttemptOutcome;

/** The failed attempts of a run so far (a copy: the run's own list keeps growing). */
export function failedAttempts(attempts: readonly AttemptRecord[]): AttemptRecord[] {
  return attempts.filter((a) => a.code !== undefined || a.kind !== undefined).map((a) => ({ ...a }));
}

/** What a call needs for one attempt. */
export interface AttemptInput {
  target: RouteTarget;
  model: LanguageModel;
  lease: KeyLease;
  timeouts: PhaseTimeouts;
  signal: AbortSignal;
  /** Called by a stream at its first token: the latency strategy's sample. */
  firstToken?: () => void;
}

/** What a dispatch run returns: the call's value, the target that gave it and who served it. */
export interface Dispatched<T> {
  value: T;
  target: RouteTarget;
  served: ServedBy;
}

export interface DispatchContext {
  route: Route;
  /** Aborted when every caller left, the request's deadline passed or the runtime closes. */
  signal: AbortSignal;
  attempts: AttemptRecord[];
  /** Shorter timeouts the caller asked for. */
  limits?: Partial<PhaseTimeouts>;
  /** Epoch ms by which the whole request must be done. */
  deadline: number;
  /** Time spent waiting out cooldowns so far (not attempts); reported as x-tasklane-waited-ms. */
  waitedMs?: number;
  /** Parent of the attempts' spans (the request's span), with tracing on. */
  traceparent?: string;
  /** GenAI operation name of the attempts' spans; default chat. */
  operation?: 'chat' | 'embeddings';
}

export interface DispatchOptions {
  /** Only targets whose effective `prefill` is true (mid-stream continuation). */
  requirePrefill?: boolean;
  /** Target ids not to use. */
  exclude?: Set<string>;
  /** Checked after a failure: true stops retrying (a stream already sent bytes). */
  stop?: () => boolean;
  /** Attempt budget of this run; default the route's maxAttempts. */
  maxAttempts?: number;
}

export interface DispatchPolicy {
  minCooldownMs: number;
  maxRetryAfterWaitMs: number;
  refusalMs: number;
  authReprobeMs: number;
  authReprobeMaxMs: number;
  maxTrackedPairs: number;
}

export const DEFAULT_POLICY: DispatchPolicy = {
  minCooldownMs: 1_000,
  maxRetryAfterWaitMs: 10_000,
  refusalMs: 600_000,
  authReprobeMs: 60_000,
  authReprobeMaxMs: 3_600_000,
  maxTrackedPairs: 10_000,
};

export interface DispatchDeps {
  providers: Map<string, ProviderEntry>;
  metrics: AiMetrics;
  log: Logger;
  defaultCooldownMs: number;
  breaker: { failures: number; resetMs: number; maxResetMs?: number };
  backoff: { baseMs: number; maxMs: number };
  board?: BreakerBoard;
  /** The failure policy's settings (ai.*); defaults as in the config schema. */
  policy?: Partial<DispatchPolicy>;
  /** Per provider: what a 429 cools ("model" = the pair, "key" = the whole key). */
  rateLimitScope?: (provider: string) => 'model' | 'key';
  /** Runs one upstream call in the `ai` lane (or directly when lanes are not there); `timeoutMs` is a backstop. */
  runInLane<T>(fn: () => Promise<T>, signal: AbortSignal, timeoutMs: number, traceparent?: string): Promise<T>;
  /** Attempt spans; none or off = no spans. */
  tracing?: Tracing;
}

/** The attempt identity of a target and a key index. */
export function servedBy(target: { provider: string; model: string }, keyIndex: number): ServedBy {
  return { provider: target.provider, model: target.model, keyIndex };
}
