import type { ResolvedConfig, TargetConfig, TimeoutsConfig } from '../config/index.js';
import { NotFoundError } from '../errors.js';

/** One upstream a route may use, with the timeouts that apply to it. */
export interface RouteTarget {
  provider: string;
  model: string;
  /** `provider/model`, the breaker's and metrics' name for it. */
  id: string;
  timeouts: TimeoutsConfig;
}

export interface Route {
  /** What the caller asked for: an alias or `provider/model`. */
  id: string;
  targets: RouteTarget[];
  maxAttempts: number;
  continuation: boolean;
}

/**
 * Resolves a request's `model` to a route: a configured alias (config `models`) or
 * `provider/model` for any configured provider. Timeouts layer as ai.timeouts, then the
 * provider's, then the route's.
 */
export class Routes {
  readonly #config: ResolvedConfig;
  readonly #aliases = new Map<string, Route>();
  /** `provider/model` routes built on demand; bounded so odd model names cannot grow it forever. */
  readonly #direct = new Map<string, Route>();

  constructor(config: ResolvedConfig) {
    this.#config = config;
    for (const [alias, route] of Object.entries(config.models)) {
      const r = Array.isArray(route) ? { targets: route, timeouts: undefined, maxAttempts: undefined, continuation: false } : route;
      this.#aliases.set(alias, {
        id: alias,
        targets: r.targets.map((t) => this.#target(t, r.timeouts)),
        maxAttempts: r.maxAttempts ?? config.ai.maxAttempts,
        continuation: r.continuation,
      });
    }
  }

  /** The route for a model name; throws TL_ERR_AI_UNKNOWN_MODEL (404) naming what exists. */
  resolve(model: string): Route {
    const alias = this.#aliases.get(model);
    if (alias) return alias;
    const cached = this.#direct.get(model);
    if (cached) return cached;
    const slash = model.indexOf('/');
    if (slash > 0 && slash < model.length - 1) {
      const provider = model.slice(0, slash);
      if (this.#config.providers[provider]) {
        const route: Route = {
          id: model,
          targets: [this.#target({ provider, model: model.slice(slash + 1) }, undefined)],
          maxAttempts: this.#config.ai.maxAttempts,
          continuation: false,
        };
        if (this.#direct.size >= 1_000) this.#direct.delete(this.#direct.keys().next().value!);
        this.#direct.set(model, route);
        return route;
      }
    }
    const aliases = [...this.#aliases.keys()];
    const providers = Object.keys(this.#config.providers);
    throw new NotFoundError(
      `unknown model "${model}": use an alias (${aliases.join(', ') || 'none configured in models'}) or provider/model with a configured provider (${providers.join(', ') || 'none configured'})`,
      { code: 'TL_ERR_AI_UNKNOWN_MODEL', details: { model } },
    );
  }

  /** Every alias with its targets, for /v1/models. */
  list(): Array<{ id: string; targets: Array<{ provider: string; model: string }> }> {
    return [...this.#aliases.values()].map((r) => ({ id: r.id, targets: r.targets.map((t) => ({ provider: t.provider, model: t.model })) }));
  }

  #target(t: TargetConfig, routeTimeouts: Partial<TimeoutsConfig> | undefined): RouteTarget {
    const provider = this.#config.providers[t.provider];
    return {
      provider: t.provider,
      model: t.model,
      id: `${t.provider}/${t.model}`,
      timeouts: { ...this.#config.ai.timeouts, ...stripUndefined(provider?.timeouts), ...stripUndefined(routeTimeouts) },
    };
  }
}

/** Caps each phase by the caller's shorter limits (a request may only shorten timeouts). */
export function capTimeouts(base: TimeoutsConfig, limits: Partial<TimeoutsConfig> | undefined, remainingMs: number): TimeoutsConfig {
  const cap = (a: number, b: number | undefined): number => Math.max(1, Math.min(a, b ?? Infinity, remainingMs));
  return {
    connectMs: cap(base.connectMs, limits?.connectMs),
    firstByteMs: cap(base.firstByteMs, limits?.firstByteMs),
    idleChunkMs: cap(base.idleChunkMs, limits?.idleChunkMs),
    totalMs: cap(base.totalMs, limits?.totalMs),
  };
}

function stripUndefined<T extends object>(o: T | undefined): Partial<T> {
  if (!o) return {};
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
