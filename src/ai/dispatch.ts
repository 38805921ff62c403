import { AllTargetsFailedError, ProviderError, TasklaneError, toTasklaneError } from '../errors.js';
import type { Logger } from '../runtime/index.js';
import { LRUCache } from 'lru-cache';
import { backoffMs } from './backoff.js';
import { FAILURE_TABLE, failureClass, type FailureClass, type FailureRule } from './failure-policy.js';
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
  /** Time spent waiting out cooldowns so far (not attempts); reported as x-tasklane-waited-ms. */
  waitedMs?: number;
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
  runInLane<T>(fn: () => Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T>;
}

export interface DispatchPolicy {
  minCooldownMs: number;
  maxRetryAfterWaitMs: number;
  refusalMs: number;
  authReprobeMs: number;
  authReprobeMaxMs: number;
  maxTrackedPairs: number;
}

const DEFAULT_POLICY: DispatchPolicy = {
  minCooldownMs: 1_000,
  maxRetryAfterWaitMs: 10_000,
  refusalMs: 600_000,
  authReprobeMs: 60_000,
  authReprobeMaxMs: 3_600_000,
  maxTrackedPairs: 10_000,
};

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
  readonly #breakers: LRUCache<string, CircuitBreaker>;
  /** Re-probes of keys disabled by a 401, by provider and key index. */
  readonly #reprobes = new Map<string, { timer: NodeJS.Timeout; delayMs: number }>();
  #closed = false;

  constructor(deps: DispatchDeps) {
    this.#deps = deps;
    this.#policy = { ...DEFAULT_POLICY, ...stripUndefined(deps.policy ?? {}) };
    this.#breakers = new LRUCache<string, CircuitBreaker>({
      max: this.#policy.maxTrackedPairs,
      dispose: (_b, _k, reason) => {
        if (reason === 'evict') deps.metrics.evictions.labels('breakers').inc();
      },
    });
  }

  breaker(target: RouteTarget): CircuitBreaker {
    let b = this.#breakers.get(target.id);
    if (!b) {
      const { failures, resetMs, maxResetMs } = this.#deps.breaker;
      const created = new CircuitBreaker(failures, resetMs, maxResetMs ?? resetMs);
      created.onChange = (state) => {
        this.#deps.metrics.breakerState(target.provider, target.label, state);
        const log = this.#deps.providers.get(target.provider)?.log ?? this.#deps.log;
        log.warn(
          { target: target.id, state, ...(state === 'open' ? { resetMs: created.resetMs } : {}) },
          `circuit breaker of ${target.id} is ${state}`,
        );
        if (state === 'open') this.#deps.board?.open(target.id, created.retryAt);
        else if (state === 'closed') this.#deps.board?.close(target.id);
      };
      this.#breakers.set(target.id, created);
      b = created;
    }
    return b;
  }

  breakers(): Array<{ target: string; state: string; failures: number; retryAt?: number }> {
    return [...this.#breakers.entries()].map(([target, b]) => ({
      target,
      state: b.state,
      failures: b.failures,
      ...(b.retryAt ? { retryAt: b.retryAt } : {}),
    }));
  }

  /** Stops the key re-probes. */
  close(): void {
    this.#closed = true;
    for (const r of this.#reprobes.values()) clearTimeout(r.timer);
    this.#reprobes.clear();
  }

  async run<T>(
    ctx: DispatchContext,
    call: (a: AttemptInput) => Promise<T>,
    options: DispatchOptions = {},
  ): Promise<{ value: T; target: RouteTarget; keyIndex: number }> {
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
      if (signal.aborted) throw this.#aborted(ctx);
      if (started >= maxAttempts) {
        // Only rate limits: the caller hears 429 with the soonest end, not "all failed".
        if (soonestCool > 0 && ctx.attempts.slice(firstAttempt).every((a) => a.kind === 'rate_limit'))
          throw this.#rateLimited(ctx, soonestCool);
        throw this.#allFailed(ctx, 'maxAttemptsExceeded');
      }
      const pick = this.#pick(route, states, options, contextFloor);
      if (!pick.ok) {
        if (pick.busy.length > 0) {
          await waitForAny(pick.busy, signal).catch(() => {});
          continue;
        }
        if (pick.coolingUntil > 0) {
          if (await this.#waitOut(ctx, pick.coolingUntil)) continue;
          throw this.#rateLimited(ctx, pick.coolingUntil);
        }
        if (finalCandidate) throw this.#final(ctx, finalCandidate);
        if (pick.refused) throw this.#refused(ctx, pick.refused);
        throw this.#allFailed(ctx, 'noHealthyTarget', pick.openUntil);
      }
      const { target, entry, breaker, lease } = pick;
      started++;
      const t0 = performance.now();
      /** The request's own budget set this attempt's deadline: a timeout is then the budget's. */
      let budgetCapped = false;
      try {
        if (pick.retry > 0) await sleep(backoffMs(pick.retry, this.#deps.backoff.baseMs, this.#deps.backoff.maxMs), signal);
        const remaining = ctx.deadline - Date.now();
        if (remaining <= 0) throw this.#aborted(ctx);
        const timeouts = capTimeouts(target.timeouts, ctx.limits, remaining);
        budgetCapped =
          timeouts.connectMs === remaining ||
          timeouts.firstByteMs === remaining ||
          timeouts.idleChunkMs === remaining ||
          timeouts.totalMs === remaining;
        // The adapter enforces the phase timeouts; the lane's limit only backstops a stuck adapter.
        const value = await this.#deps.runInLane(
          () => call({ target, model: entry.model, lease, timeouts, signal }),
          signal,
          timeouts.totalMs + 1_000,
        );
        breaker.success();
        const m = this.#deps.metrics.forKey(target.provider, target.label, lease.keyIndex);
        m.ok.inc();
        m.latency.observe((performance.now() - t0) / 1000);
        ctx.attempts.push({
          provider: target.provider,
          model: target.model,
          keyIndex: lease.keyIndex,
          ms: Math.round(performance.now() - t0),
        });
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
        const cls = failureClass(err);
        ctx.attempts.push({
          provider: target.provider,
          model: target.model,
          keyIndex: lease.keyIndex,
          code: err.code,
          ...(typeof err.details.status === 'number' ? { status: err.details.status } : {}),
          kind: cls ?? kind,
          ms: Math.round(performance.now() - t0),
        });
        this.#deps.metrics.failures.labels(target.provider, target.label, String(lease.keyIndex), cls ?? kind).inc();
        if (cls === undefined || signal.aborted) {
          breaker.release();
          throw this.#aborted(ctx);
        }
        if (budgetCapped && cls.startsWith('timeout-')) {
          // Not the target's silence: the request's budget ran out (504, as when it aborts the call).
          breaker.release();
          throw new AllTargetsFailedError(
            'TL_ERR_AI_TIMEOUT',
            `model "${route.id}": the request's budget ran out after ${ctx.attempts.length} attempt(s)`,
            {
              details: { route: route.id, reason: 'deadlineExceeded', attempts: ctx.attempts, ...waited(ctx) },
            },
          );
        }
        const rule = FAILURE_TABLE[cls];
        const cooledUntil = this.#apply(rule, cls, err, route, target, entry, lease.keyIndex, breaker);
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
        throw this.#final(ctx, err);
      } finally {
        lease.release();
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

  /** Does what the failure class says to the pair, the key and the breaker; logs without the key. */
  /** Returns the end of the cooldown it set, or 0. */
  #apply(
    rule: FailureRule,
    cls: FailureClass,
    err: TasklaneError,
    route: Route,
    target: RouteTarget,
    entry: ProviderEntry,
    keyIndex: number,
    breaker: CircuitBreaker,
  ): number {
    if (rule.breaker) breaker.failure();
    else breaker.release();
    const status = err.details.status;
    if (rule.effect === 'cool') {
      const told = typeof err.details.retryAfterMs === 'number' && err.details.retryAfterMs > 0 ? err.details.retryAfterMs : undefined;
      // Without a Retry-After: the default cooldown with jitter (80-100 %), so a fleet's retries spread out.
      const asked = told ?? Math.round(this.#deps.defaultCooldownMs * (0.8 + Math.random() * 0.2));
      // Whatever the header says, a cooling pair gets at most about one call per minCooldownMs.
      const coolMs = Math.max(asked, this.#policy.minCooldownMs);
      const scope = this.#deps.rateLimitScope?.(target.provider) ?? 'model';
      entry.pool.cool(keyIndex, Date.now() + coolMs, scope === 'model' ? target.model : undefined);
      this.#deps.metrics.cooldowns.labels(target.provider, String(keyIndex), scope === 'model' ? target.label : '', scope).inc();
      entry.log.info(
        { keyIndex, model: target.model, retryAfterMs: coolMs, scope },
        `${scope === 'model' ? `key ${keyIndex} of ${target.provider} for ${target.model}` : `key ${keyIndex} of ${target.provider}`} cools for ${coolMs} ms`,
      );
      return Date.now() + coolMs;
    } else if (rule.effect === 'refuse-pair' || (rule.effect === 'disable-key' && route.direct)) {
      // A 403 (or a 401 on a model the client chose) says nothing about the key's other models.
      const until = Date.now() + this.#policy.refusalMs;
      entry.pool.refuse(keyIndex, target.model, until, err.message);
      this.#deps.metrics.refusals.labels(target.provider, String(keyIndex), target.label).inc();
      entry.log.warn(
        { keyIndex, model: target.model, status, refusedForMs: this.#policy.refusalMs },
        `key ${keyIndex} of ${target.provider} was refused for ${target.model} (${status ?? cls}); the pair is skipped for ${this.#policy.refusalMs} ms`,
      );
    } else if (rule.effect === 'disable-key') {
      const delay = this.#policy.authReprobeMs;
      if (entry.pool.disable(keyIndex, `refused with ${status ?? 'an auth error'}`, Date.now() + delay)) {
        this.#deps.metrics.disabledKeys.labels(target.provider, String(keyIndex)).set(1);
        entry.log.error(
          { keyIndex, status },
          `key ${keyIndex} of ${target.provider} was refused (${status ?? 'auth'}); it is disabled for every model and re-probed in ${delay} ms: check providers.${target.provider}.apiKeys[${keyIndex}]`,
        );
        this.#scheduleReprobe(entry, keyIndex, delay, target);
      }
    } else if (rule.breaker) {
      entry.log.warn({ keyIndex, model: target.model, class: cls, code: err.code, status }, `${target.id} failed: ${err.message}`);
    }
    return 0;
  }

  /** Re-probes a disabled key with a cheap call (the model list): back on success, else twice the wait (up to authReprobeMaxMs). */
  #scheduleReprobe(entry: ProviderEntry, keyIndex: number, delayMs: number, target: RouteTarget): void {
    if (this.#closed) return;
    const id = `${entry.name}:${keyIndex}`;
    clearTimeout(this.#reprobes.get(id)?.timer);
    const timer = setTimeout(() => {
      void (async () => {
        const controller = new AbortController();
        const probeTimer = setTimeout(() => controller.abort(), target.timeouts.totalMs).unref();
        let ok = false;
        let refused = false;
        try {
          await entry.model.doListModels({
            apiKey: entry.pool.keyAt(keyIndex),
            signal: controller.signal,
            timeouts: capTimeouts(target.timeouts, undefined, target.timeouts.totalMs),
          });
          ok = true;
        } catch (err) {
          refused = TasklaneError.isInstance(err) && err.details.kind === 'auth';
        } finally {
          clearTimeout(probeTimer);
        }
        if (this.#closed) return;
        this.#reprobes.delete(id);
        if (ok) {
          entry.pool.enable(keyIndex);
          this.#deps.metrics.disabledKeys.labels(entry.name, String(keyIndex)).set(0);
          entry.log.info({ keyIndex }, `key ${keyIndex} of ${entry.name} answered its re-probe: back in rotation`);
          return;
        }
        // Still refused: wait longer. Not reachable (network): try again after the same wait.
        const next = refused ? Math.min(delayMs * 2, this.#policy.authReprobeMaxMs) : delayMs;
        entry.pool.disable(keyIndex, `refused with 401 (re-probe failed)`, Date.now() + next);
        this.#scheduleReprobe(entry, keyIndex, next, target);
      })();
    }, delayMs);
    timer.unref();
    this.#reprobes.set(id, { timer, delayMs });
  }

  #pick(route: Route, states: Map<string, TargetState>, options: DispatchOptions, contextFloor: number | undefined): Pick {
    const now = Date.now();
    let coolingUntil = Infinity;
    let openUntil = Infinity;
    let refused: { message: string; until: number } | undefined;
    const busy: KeyPool[] = [];
    // Route order; a target being retried is the first one not done, so it is retried before the next.
    for (const target of route.targets) {
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

  #classify(thrown: unknown, signal: AbortSignal): TasklaneError {
    if (TasklaneError.isInstance(thrown)) {
      if (thrown.details.kind !== undefined) return thrown;
      if (thrown.code === 'TL_ERR_ABORTED' || signal.aborted)
        return new ProviderError('TL_ERR_ABORTED', thrown.message, { cause: thrown, details: { kind: 'aborted' } });
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
        details: { route: ctx.route.id, reason: 'deadlineExceeded', attempts: ctx.attempts, ...waited(ctx) },
      });
    }
    return reason;
  }

  #allFailed(ctx: DispatchContext, reason: 'maxAttemptsExceeded' | 'noHealthyTarget', openUntil = 0): AllTargetsFailedError {
    const n = ctx.attempts.length;
    const tried = ctx.attempts.map((a) => `${a.provider}/${a.model} key ${a.keyIndex}: ${a.status ?? a.kind ?? a.code}`).join('; ');
    const why =
      reason === 'maxAttemptsExceeded'
        ? `gave up after ${n} attempt(s) (maxAttempts ${ctx.route.maxAttempts})`
        : n > 0
          ? `no target is left to try after ${n} attempt(s)`
          : 'no healthy target is left (breakers open or keys disabled)';
    const details: Record<string, unknown> = { route: ctx.route.id, reason, attempts: ctx.attempts, ...waited(ctx) };
    if (openUntil > 0) details.retryAfterMs = Math.max(1, openUntil - Date.now());
    return new AllTargetsFailedError('TL_ERR_AI_ALL_FAILED', `model "${ctx.route.id}": ${why}${tried ? `: ${tried}` : ''}`, {
      details,
      ...(reason === 'noHealthyTarget' && n === 0 ? { httpStatus: 503 } : {}),
    });
  }

  #rateLimited(ctx: DispatchContext, until: number): TasklaneError {
    const retryAfterMs = Math.max(1, until - Date.now());
    return new TasklaneError(
      'TL_ERR_AI_RATE_LIMITED',
      `model "${ctx.route.id}": every target that could serve is cooling down (rate limited); retry in ${retryAfterMs} ms`,
      {
        details: { route: ctx.route.id, retryAfterMs, attempts: ctx.attempts, ...waited(ctx) },
      },
    );
  }

  /** Every key left was refused for this model (403): the provider's reason, without a new call. */
  #refused(ctx: DispatchContext, r: { message: string; until: number }): TasklaneError {
    return new ProviderError('TL_ERR_AI_REFUSED', r.message, {
      httpStatus: 403,
      retryable: false,
      details: { route: ctx.route.id, reason: 'refused', refusedUntil: r.until, attempts: ctx.attempts, ...waited(ctx) },
    });
  }

  /** A failure no other key or target can fix: the provider's own error, with the attempts. */
  #final(ctx: DispatchContext, err: TasklaneError): TasklaneError {
    return new ProviderError(err.code, err.message, {
      cause: err,
      httpStatus: err.httpStatus,
      retryable: false,
      details: { ...err.details, route: ctx.route.id, reason: 'errorNotRetryable', attempts: ctx.attempts, ...waited(ctx) },
    });
  }
}

const waited = (ctx: DispatchContext): { waitedMs?: number } => (ctx.waitedMs ? { waitedMs: ctx.waitedMs } : {});

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
