import { TasklaneError } from '../errors.js';
import { LRUCache } from 'lru-cache';
import { CircuitBreaker } from './breaker.js';
import type { DispatchDeps, DispatchPolicy, ProviderEntry } from './dispatch-types.js';
import type { FailureClass, FailureRule } from './failure-policy.js';
import { capTimeouts, type Route, type RouteTarget } from './route.js';

/**
 * What failures do to the health of targets and keys: one circuit breaker per target (bounded,
 * evictions counted), the effect a failure class names (cool the pair, refuse it, disable the key,
 * count a breaker failure), and the re-probes that bring a key disabled by a 401 back.
 */
export class TargetHealth {
  readonly #deps: DispatchDeps;
  readonly #policy: DispatchPolicy;
  readonly #breakers: LRUCache<string, CircuitBreaker>;
  /** Re-probes of keys disabled by a 401, by provider and key index. */
  readonly #reprobes = new Map<string, { timer: NodeJS.Timeout; delayMs: number }>();
  #closed = false;

  constructor(deps: DispatchDeps, policy: DispatchPolicy) {
    this.#deps = deps;
    this.#policy = policy;
    this.#breakers = new LRUCache<string, CircuitBreaker>({
      max: policy.maxTrackedPairs,
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

  /**
   * Does what the failure class says to the pair, the key and the breaker; logs without the key.
   * Returns the end of the cooldown it set, or 0.
   */
  apply(
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
}
