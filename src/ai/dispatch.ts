import type { TasklaneError } from '../errors.js';
import { sleep } from '../util/async.js';
import { backoffMs } from './backoff.js';
import type { CircuitBreaker } from './breaker.js';
import {
  abortedError,
  allFailedError,
  budgetRanOut,
  classifyThrown,
  finalError,
  rateLimitedError,
  refusedError,
} from './dispatch-errors.js';
import {
  DEFAULT_POLICY,
  servedBy,
  type AttemptInput,
  type Dispatched,
  type DispatchContext,
  type DispatchDeps,
  type DispatchOptions,
  type DispatchPolicy,
  type ProviderEntry,
} from './dispatch-types.js';
import { FAILURE_TABLE, failureClass } from './failure-policy.js';
import type { KeyLease, KeyPool } from './key-pool.js';
import { capTimeouts, type Route, type RouteTarget } from './route.js';
import { TargetHealth } from './target-health.js';
import { candidates } from './strategies/order.js';
import { TargetStats, trackAttempt } from './strategies/target-stats.js';
import { attemptSpan, endAttemptSpan } from './call-trace.js';

/** What this request did with one target so far. */
interface TargetState {
  /** Transient failures (retried on the same target). */
  failures: number;
  /** Moved on: not used again in this request. */
  done: boolean;
}

type Pick =
  | { ok: true; target: RouteTarget; entry: ProviderEntry; breaker: CircuitBreaker; lease: KeyLease; retry: number }
  | { ok: false; coolingUntil: number; busy: KeyPool[]; openUntil: number; refused?: { message: string; until: number } };

/**
 * The attempt loop: picks a target and a key, calls, and on a failure does what the failure-class
 * table (failure-policy.ts) says: cool the (key, model) pair, refuse it, disable the key, retry the
 * same target with backoff, move to the next target, or stop. A short cooldown when nothing else
 * can serve is waited out (that wait is not an attempt). All within the route's attempt budget
 * and the request's deadline.
 */
export class Dispatcher {
  readonly #deps: DispatchDeps;
  readonly #policy: DispatchPolicy;
  readonly #health: TargetHealth;
  /** Calls in flight and time to first token per target, for the routing strategies. */
  readonly stats: TargetStats;

  constructor(deps: DispatchDeps) {
    this.#deps = deps;
    this.#policy = { ...DEFAULT_POLICY, ...stripUndefined(deps.policy ?? {}) };
    this.#health = new TargetHealth(deps, this.#policy);
    this.stats = new TargetStats(this.#policy.maxTrackedPairs);
  }

  breaker(target: RouteTarget): CircuitBreaker {
    return this.#health.breaker(target);
  }

  breakers(): Array<{ target: string; state: string; failures: number; retryAt?: number }> {
    return this.#health.breakers();
  }

  /** Stops the key re-probes. */
  close(): void {
    this.#health.close();
  }

  async run<T>(ctx: DispatchContext, call: (a: AttemptInput) => Promise<T>, options: DispatchOptions = {}): Promise<Dispatched<T>> {
    const { route, signal } = ctx;
    const states = new Map<string, TargetState>();
    const maxAttempts = options.maxAttempts ?? route.maxAttempts;
    let started = 0;
    /** After a context-length failure: only targets with a larger declared window may go on. */
    let contextFloor: number | undefined;
    /** The failure to report when no target is left to try (context length, a refusal). */
    let finalCandidate: TasklaneError | undefined;
    /** The soonest end of a cooldown this run set. */
    let soonestCool = 0;
    const firstAttempt = ctx.attempts.length;
    for (;;) {
      if (signal.aborted) throw abortedError(ctx);
      if (started >= maxAttempts) {
        // Only rate limits: the caller hears 429 with the soonest end, not "all failed".
        if (soonestCool > 0 && ctx.attempts.slice(firstAttempt).every((a) => a.kind === 'rate_limit'))
          throw rateLimitedError(ctx, soonestCool);
        throw allFailedError(ctx, 'maxAttemptsExceeded');
      }
      const pick = this.#pick(route, states, options, contextFloor);
      if (!pick.ok) {
        if (pick.busy.length > 0) {
          await waitForAny(pick.busy, signal).catch(() => {});
          continue;
        }
        if (pick.coolingUntil > 0) {
          if (await this.#waitOut(ctx, pick.coolingUntil)) continue;
          throw rateLimitedError(ctx, pick.coolingUntil);
        }
        if (finalCandidate) throw finalError(ctx, finalCandidate);
        if (pick.refused) throw refusedError(ctx, pick.refused);
        throw allFailedError(ctx, 'noHealthyTarget', pick.openUntil);
      }
      const { target, entry, breaker, lease } = pick;
      started++;
      const t0 = performance.now();
      const tracked = trackAttempt(this.stats, target.id);
      const recorded = ctx.attempts.length;
      const span = this.#deps.tracing?.enabled ? attemptSpan(this.#deps.tracing, ctx, target, lease.keyIndex) : undefined;
      /** The request's own budget set this attempt's deadline: a timeout is then the budget's. */
      let budgetCapped = false;
      try {
        if (pick.retry > 0) await sleep(backoffMs(pick.retry, this.#deps.backoff.baseMs, this.#deps.backoff.maxMs), signal);
        const remaining = ctx.deadline - Date.now();
        if (remaining <= 0) throw abortedError(ctx);
        const timeouts = capTimeouts(target.timeouts, ctx.limits, remaining);
        budgetCapped =
          timeouts.connectMs === remaining ||
          timeouts.firstByteMs === remaining ||
          timeouts.idleChunkMs === remaining ||
          timeouts.totalMs === remaining;
        // The adapter enforces the phase timeouts; the lane's limit only backstops a stuck adapter.
        const value = await this.#deps.runInLane(
          () => call({ target, model: entry.model, lease, timeouts, signal, firstToken: tracked.firstToken }),
          signal,
          timeouts.totalMs + 1_000,
          span?.traceparent,
        );
        breaker.success();
        tracked.firstToken();
        const m = this.#deps.metrics.forKey(target.provider, target.label, lease.keyIndex);
        m.ok.inc();
        m.latency.observe((performance.now() - t0) / 1000);
        const served = servedBy(target, lease.keyIndex);
        ctx.attempts.push({ ...served, ms: Math.round(performance.now() - t0) });
        return { value, target, served };
      } catch (thrown) {
        let err: TasklaneError;
        try {
          err = classifyThrown(thrown, signal);
        } catch (notOurs) {
          breaker.release();
          throw notOurs;
        }
        const kind = String(err.details.kind ?? 'server');
        const cls = failureClass(err);
        ctx.attempts.push({
          ...servedBy(target, lease.keyIndex),
          code: err.code,
          ...(typeof err.details.status === 'number' ? { status: err.details.status } : {}),
          kind: cls ?? kind,
          ms: Math.round(performance.now() - t0),
        });
        this.#deps.metrics.failures.labels(target.provider, target.label, String(lease.keyIndex), cls ?? kind).inc();
        if (cls === undefined || signal.aborted) {
          breaker.release();
          throw abortedError(ctx);
        }
        if (budgetCapped && cls.startsWith('timeout-')) {
          // Not the target's silence: the request's budget ran out (504, as when it aborts the call).
          breaker.release();
          throw budgetRanOut(ctx);
        }
        const rule = FAILURE_TABLE[cls];
        const cooledUntil = this.#health.apply(rule, cls, err, route, target, entry, lease.keyIndex, breaker);
        if (cooledUntil > 0) soonestCool = soonestCool === 0 ? cooledUntil : Math.min(soonestCool, cooledUntil);
        if (options.stop?.()) throw err;
        const st = states.get(target.id) ?? { failures: 0, done: false };
        states.set(target.id, st);
        if (rule.effect !== 'none') {
          // Another key of the same target may serve (the pick skips this pair); a refusal is what
          // the caller hears if nothing else can.
          if (rule.effect === 'refuse-pair' || (rule.effect === 'disable-key' && route.direct)) finalCandidate ??= err;
          continue;
        }
        const retrySame = rule.retrySame === 'yes' || (rule.retrySame === 'if-retryOnTimeout' && target.retryOnTimeout);
        // A same-target retry never takes the last attempt another target would need.
        const othersLeft = route.targets.filter((t) => t.id !== target.id && !states.get(t.id)?.done && !options.exclude?.has(t.id)).length;
        if (retrySame && st.failures < target.retries && maxAttempts - started > othersLeft) {
          st.failures++;
          continue;
        }
        st.done = true;
        // A target that failed transiently could have served: if nothing is left, that is "all
        // failed", not an earlier refusal or context-length error.
        if (rule.next === 'yes') {
          finalCandidate = rule.finalIfLast ? err : undefined;
          continue;
        }
        if (route.fallbackOn.has(cls)) continue;
        if (rule.next === 'larger-context') {
          // Only a later target declared with a larger window can take this request.
          contextFloor = Math.max(contextFloor ?? 0, target.contextWindow ?? 0);
          finalCandidate = err;
          continue;
        }
        throw finalError(ctx, err);
      } finally {
        tracked.end();
        lease.release();
        if (span) endAttemptSpan(span, ctx.attempts.length > recorded ? ctx.attempts[ctx.attempts.length - 1] : undefined);
      }
    }
  }

  /**
   * Waits for the soonest cooldown when nothing else can serve, if it ends within the request's
   * budget and ai.maxRetryAfterWaitMs (the waits of one request add up). True when it waited.
   */
  async #waitOut(ctx: DispatchContext, until: number): Promise<boolean> {
    const waitMs = Math.max(1, until - Date.now());
    const waited = ctx.waitedMs ?? 0;
    if (waited + waitMs > this.#policy.maxRetryAfterWaitMs) return false;
    if (waitMs >= ctx.deadline - Date.now()) return false;
    const t0 = performance.now();
    try {
      await sleep(waitMs, ctx.signal);
    } catch {
      // The caller left, the budget ran out or close() aborted: the loop reports it.
    }
    const ms = performance.now() - t0;
    ctx.waitedMs = waited + Math.round(ms);
    this.#deps.metrics.cooldownWaits.inc();
    this.#deps.metrics.cooldownWaitSeconds.inc(ms / 1000);
    return true;
  }

  #pick(route: Route, states: Map<string, TargetState>, options: DispatchOptions, contextFloor: number | undefined): Pick {
    const now = Date.now();
    let coolingUntil = Infinity;
    let openUntil = Infinity;
    let refused: { message: string; until: number } | undefined;
    const busy: KeyPool[] = [];
    // The route's strategy (route order by default); a target being retried goes first.
    const retried = (id: string) => (states.get(id)?.failures ?? 0) > 0 && !states.get(id)?.done;
    for (const target of candidates(route.strategy, route.targets, this.stats, retried)) {
      const st = states.get(target.id);
      if (st?.done) continue;
      if (options.exclude?.has(target.id)) continue;
      if (contextFloor !== undefined && !route.fallbackOn.has('context_length') && (target.contextWindow ?? 0) <= contextFloor) continue;
      const entry = this.#deps.providers.get(target.provider);
      if (!entry) continue;
      if (options.requirePrefill && !target.prefill) continue;
      const breaker = this.breaker(target);
      const sharedOpen = this.#deps.board?.openUntil(target.id) ?? 0;
      if (sharedOpen > now && breaker.state === 'closed') {
        openUntil = Math.min(openUntil, sharedOpen);
        continue;
      }
      if (!breaker.canPass(now)) {
        if (breaker.retryAt) openUntil = Math.min(openUntil, breaker.retryAt);
        continue;
      }
      const lease = entry.pool.acquire(target.model, now);
      if ('reason' in lease) {
        if (lease.reason === 'cooling') coolingUntil = Math.min(coolingUntil, lease.retryAt);
        else if (lease.reason === 'busy') busy.push(entry.pool);
        else if (lease.reason === 'refused') refused ??= { message: lease.message, until: lease.until };
        continue;
      }
      if (!breaker.acquire(now)) {
        lease.release();
        continue;
      }
      return { ok: true, target, entry, breaker, lease, retry: st?.failures ?? 0 };
    }
    return {
      ok: false,
      coolingUntil: coolingUntil === Infinity ? 0 : coolingUntil,
      busy,
      openUntil: openUntil === Infinity ? 0 : openUntil,
      ...(refused ? { refused } : {}),
    };
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** Resolves when any of the pools frees a slot; the other waits are dropped. */
async function waitForAny(pools: KeyPool[], signal: AbortSignal): Promise<void> {
  const local = new AbortController();
  const onAbort = (): void => local.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race(pools.map((p) => p.waitForSlot(local.signal)));
  } finally {
    signal.removeEventListener('abort', onAbort);
    local.abort();
  }
}
