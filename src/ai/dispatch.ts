import { AllTargetsFailedError, ProviderError, TasklaneError, toTasklaneError } from '../errors.js';
import type { Logger } from '../runtime/index.js';
import { backoffMs } from './backoff.js';
import { CircuitBreaker, type BreakerBoard } from './breaker.js';
import type { KeyLease, KeyPool } from './key-pool.js';
import type { AiMetrics } from './metrics.js';
import type { LanguageModel, PhaseTimeouts } from './provider.js';
import { capTimeouts, type Route, type RouteTarget } from './route.js';
import { abortReason, sleep } from '../util/async.js';

/** One configured provider: its adapter, its keys, its logger. */
export interface ProviderEntry {
  name: string;
  model: LanguageModel;
  pool: KeyPool;
  log: Logger;
}

/** What one upstream attempt was and how it ended; never the key, only its index. */
export interface AttemptRecord {
  provider: string;
  model: string;
  keyIndex: number;
  code?: string;
  status?: number;
  kind?: string;
  ms: number;
}

/** What a call needs for one attempt. */
export interface AttemptInput {
  target: RouteTarget;
  model: LanguageModel;
  lease: KeyLease;
  timeouts: PhaseTimeouts;
  signal: AbortSignal;
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
}

export interface DispatchOptions {
  /** Only targets whose adapter continues from a prefill (mid-stream continuation). */
  requirePrefill?: boolean;
  /** Target ids not to use. */
  exclude?: Set<string>;
  /** Checked after a failure: true stops retrying (a stream already sent bytes). */
  stop?: () => boolean;
  /** Attempt budget of this run; default the route's maxAttempts. */
  maxAttempts?: number;
}

export interface DispatchDeps {
  providers: Map<string, ProviderEntry>;
  metrics: AiMetrics;
  log: Logger;
  defaultCooldownMs: number;
  breaker: { failures: number; resetMs: number };
  backoff: { baseMs: number; maxMs: number };
  board?: BreakerBoard;
  /** Runs one upstream call in the `ai` lane (or directly when lanes are not there); `timeoutMs` is a backstop. */
  runInLane<T>(fn: () => Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T>;
}

/** Failure kinds that say the target itself is unwell (they count toward its breaker). */
const TARGET_FAULTS = new Set(['server', 'timeout', 'connect', 'stream_broken', 'malformed']);
/** Failure kinds that no other key or target will fix. */
const FINAL_KINDS = new Set(['bad_request', 'context_length', 'content_filter']);

type Pick =
  | { ok: true; target: RouteTarget; entry: ProviderEntry; breaker: CircuitBreaker; lease: KeyLease; retry: number }
  | { ok: false; coolingUntil: number; busy: KeyPool[]; openUntil: number };

/**
 * The attempt loop: picks a target and a key, calls, and on a retryable failure cools or
 * disables the key, feeds the target's breaker, backs off and tries again, within the route's
 * attempt budget and the request's deadline.
 */
export class Dispatcher {
  readonly #deps: DispatchDeps;
  readonly #breakers = new Map<string, CircuitBreaker>();

  constructor(deps: DispatchDeps) {
    this.#deps = deps;
  }

  breaker(target: RouteTarget): CircuitBreaker {
    let b = this.#breakers.get(target.id);
    if (!b) {
      const created = new CircuitBreaker(this.#deps.breaker.failures, this.#deps.breaker.resetMs);
      created.onChange = (state) => {
        this.#deps.metrics.breakerState(target.provider, target.model, state);
        const log = this.#deps.providers.get(target.provider)?.log ?? this.#deps.log;
        log.warn({ target: target.id, state }, `circuit breaker of ${target.id} is ${state}`);
        if (state === 'open') this.#deps.board?.open(target.id, created.retryAt);
        else if (state === 'closed') this.#deps.board?.close(target.id);
      };
      this.#breakers.set(target.id, created);
      b = created;
    }
    return b;
  }

  breakers(): Array<{ target: string; state: string; failures: number; retryAt?: number }> {
    return [...this.#breakers].map(([target, b]) => ({ target, state: b.state, failures: b.failures, ...(b.retryAt ? { retryAt: b.retryAt } : {}) }));
  }

  async run<T>(ctx: DispatchContext, call: (a: AttemptInput) => Promise<T>, options: DispatchOptions = {}): Promise<{ value: T; target: RouteTarget; keyIndex: number }> {
    const { route, signal } = ctx;
    const failedTargets = new Map<string, number>();
    const maxAttempts = options.maxAttempts ?? route.maxAttempts;
    let started = 0;
    for (;;) {
      if (signal.aborted) throw this.#aborted(ctx);
      if (started >= maxAttempts) throw this.#allFailed(ctx, 'maxAttemptsExceeded');
      const pick = this.#pick(route, failedTargets, options);
      if (!pick.ok) {
        if (pick.busy.length > 0) {
          await waitForAny(pick.busy, signal).catch(() => {});
          continue;
        }
        if (pick.coolingUntil > 0) throw this.#rateLimited(ctx, pick.coolingUntil);
        throw this.#allFailed(ctx, 'noHealthyTarget', pick.openUntil);
      }
      const { target, entry, breaker, lease } = pick;
      started++;
      const t0 = performance.now();
      try {
        if (pick.retry > 0) await sleep(backoffMs(pick.retry, this.#deps.backoff.baseMs, this.#deps.backoff.maxMs), signal);
        const remaining = ctx.deadline - Date.now();
        if (remaining <= 0) throw this.#aborted(ctx);
        const timeouts = capTimeouts(target.timeouts, ctx.limits, remaining);
        // The adapter enforces the phase timeouts; the lane's limit only backstops a stuck adapter.
        const value = await this.#deps.runInLane(() => call({ target, model: entry.model, lease, timeouts, signal }), signal, timeouts.totalMs + 1_000);
        breaker.success();
        const m = this.#deps.metrics.forKey(target.provider, target.model, lease.keyIndex);
        m.ok.inc();
        m.latency.observe((performance.now() - t0) / 1000);
        ctx.attempts.push({ provider: target.provider, model: target.model, keyIndex: lease.keyIndex, ms: Math.round(performance.now() - t0) });
        return { value, target, keyIndex: lease.keyIndex };
      } catch (thrown) {
        let err: TasklaneError;
        try {
          err = this.#classify(thrown, signal);
        } catch (notOurs) {
          breaker.release();
          throw notOurs;
        }
        const kind = String(err.details.kind ?? 'server');
        ctx.attempts.push({
          provider: target.provider,
          model: target.model,
          keyIndex: lease.keyIndex,
          code: err.code,
          ...(typeof err.details.status === 'number' ? { status: err.details.status } : {}),
          kind,
          ms: Math.round(performance.now() - t0),
        });
        this.#deps.metrics.failures.labels(target.provider, target.model, String(lease.keyIndex), kind).inc();
        if (kind === 'aborted' || signal.aborted) {
          breaker.release();
          throw this.#aborted(ctx);
        }
        this.#afterFailure(err, kind, target, entry, lease.keyIndex, breaker);
        if (!err.retryable && kind !== 'auth') throw this.#final(ctx, err);
        if (FINAL_KINDS.has(kind)) throw this.#final(ctx, err);
        if (TARGET_FAULTS.has(kind)) failedTargets.set(target.id, (failedTargets.get(target.id) ?? 0) + 1);
        if (options.stop?.()) throw err;
      } finally {
        lease.release();
      }
    }
  }

  /** Cools or disables the key, feeds the breaker, logs without the key. */
  #afterFailure(err: TasklaneError, kind: string, target: RouteTarget, entry: ProviderEntry, keyIndex: number, breaker: CircuitBreaker): void {
    if (kind === 'rate_limit') {
      const retryAfterMs = typeof err.details.retryAfterMs === 'number' && err.details.retryAfterMs > 0 ? err.details.retryAfterMs : this.#deps.defaultCooldownMs;
      entry.pool.cool(keyIndex, Date.now() + retryAfterMs);
      this.#deps.metrics.cooldowns.labels(target.provider, String(keyIndex)).inc();
      entry.log.info({ keyIndex, model: target.model, retryAfterMs }, `key ${keyIndex} of ${target.provider} cools for ${retryAfterMs} ms`);
      breaker.release();
    } else if (kind === 'auth') {
      if (entry.pool.disable(keyIndex, `refused with ${err.details.status ?? 'an auth error'}`)) {
        this.#deps.metrics.disabledKeys.labels(target.provider, String(keyIndex)).set(1);
        entry.log.error({ keyIndex, status: err.details.status }, `key ${keyIndex} of ${target.provider} was refused (${err.details.status ?? 'auth'}); it is disabled until restart: check providers.${target.provider}.apiKeys[${keyIndex}]`);
      }
      breaker.release();
    } else if (TARGET_FAULTS.has(kind)) {
      breaker.failure();
      entry.log.warn({ keyIndex, model: target.model, kind, code: err.code, status: err.details.status }, `${target.id} failed: ${err.message}`);
    } else {
      breaker.release();
    }
  }

  #pick(route: Route, failedTargets: Map<string, number>, options: DispatchOptions): Pick {
    const now = Date.now();
    let coolingUntil = Infinity;
    let openUntil = Infinity;
    const busy: KeyPool[] = [];
    // Targets that have not failed this request come first, in route order; then the ones that did.
    for (let pass = 0; pass < 2; pass++) {
      for (const target of route.targets) {
        const failed = failedTargets.get(target.id) ?? 0;
        if ((pass === 0) !== (failed === 0)) continue;
        if (options.exclude?.has(target.id)) continue;
        const entry = this.#deps.providers.get(target.provider);
        if (!entry) continue;
        if (options.requirePrefill && !entry.model.supportsPrefill) continue;
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
        const lease = entry.pool.acquire(now);
        if ('reason' in lease) {
          if (lease.reason === 'cooling') coolingUntil = Math.min(coolingUntil, lease.retryAt);
          else if (lease.reason === 'busy') busy.push(entry.pool);
          continue;
        }
        if (!breaker.acquire(now)) {
          lease.release();
          continue;
        }
        return { ok: true, target, entry, breaker, lease, retry: failed };
      }
    }
    return { ok: false, coolingUntil: coolingUntil === Infinity ? 0 : coolingUntil, busy, openUntil: openUntil === Infinity ? 0 : openUntil };
  }

  #classify(thrown: unknown, signal: AbortSignal): TasklaneError {
    if (TasklaneError.isInstance(thrown)) {
      if (thrown.details.kind !== undefined) return thrown;
      if (thrown.code === 'TL_ERR_ABORTED' || signal.aborted) return new ProviderError('TL_ERR_ABORTED', thrown.message, { cause: thrown, details: { kind: 'aborted' } });
      // Lane full or closed: not the provider's fault and no other target helps.
      throw thrown;
    }
    if (signal.aborted) return new ProviderError('TL_ERR_ABORTED', 'aborted', { cause: thrown, details: { kind: 'aborted' } });
    const e = toTasklaneError(thrown, 'TL_ERR_AI_PROVIDER');
    return new ProviderError('TL_ERR_AI_PROVIDER', e.message, { cause: thrown, details: { kind: 'server' } });
  }

  #aborted(ctx: DispatchContext): TasklaneError {
    const reason = toTasklaneError(abortReason(ctx.signal));
    if (TasklaneError.isInstance(reason) && reason.code === 'TL_ERR_AI_TIMEOUT') {
      return new AllTargetsFailedError('TL_ERR_AI_TIMEOUT', `${reason.message} after ${ctx.attempts.length} attempt(s)`, {
        details: { route: ctx.route.id, reason: 'deadlineExceeded', attempts: ctx.attempts },
      });
    }
    return reason;
  }

  #allFailed(ctx: DispatchContext, reason: 'maxAttemptsExceeded' | 'noHealthyTarget', openUntil = 0): AllTargetsFailedError {
    const n = ctx.attempts.length;
    const tried = ctx.attempts.map((a) => `${a.provider}/${a.model} key ${a.keyIndex}: ${a.status ?? a.kind ?? a.code}`).join('; ');
    const why = reason === 'maxAttemptsExceeded' ? `gave up after ${n} attempt(s) (maxAttempts ${ctx.route.maxAttempts})` : 'no healthy target is left (breakers open or keys disabled)';
    const details: Record<string, unknown> = { route: ctx.route.id, reason, attempts: ctx.attempts };
    if (openUntil > 0) details.retryAfterMs = Math.max(1, openUntil - Date.now());
    return new AllTargetsFailedError('TL_ERR_AI_ALL_FAILED', `model "${ctx.route.id}": ${why}${tried ? `: ${tried}` : ''}`, {
      details,
      ...(reason === 'noHealthyTarget' ? { httpStatus: 503 } : {}),
    });
  }

  #rateLimited(ctx: DispatchContext, until: number): TasklaneError {
    const retryAfterMs = Math.max(1, until - Date.now());
    return new TasklaneError('TL_ERR_AI_RATE_LIMITED', `model "${ctx.route.id}": every key of every target is cooling down; retry in ${retryAfterMs} ms`, {
      details: { route: ctx.route.id, retryAfterMs, attempts: ctx.attempts },
    });
  }

  /** A failure no other key or target can fix: the provider's own error, with the attempts. */
  #final(ctx: DispatchContext, err: TasklaneError): TasklaneError {
    return new ProviderError(err.code, err.message, {
      cause: err,
      httpStatus: err.httpStatus,
      retryable: false,
      details: { ...err.details, route: ctx.route.id, reason: 'errorNotRetryable', attempts: ctx.attempts },
    });
  }
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
