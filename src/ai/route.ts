import type { ResolvedConfig, TargetConfig, TimeoutsConfig } from '../config/index.js';
import { NotFoundError } from '../errors.js';
import { priceOf, type Price } from './cost/price.js';
import { modelFacts, modelNames } from './model-facts.js';
import type { Strategy } from './strategies/order.js';

/** One upstream a route may use, with the timeouts and failure options that apply to it. */
export interface RouteTarget {
  provider: string;
  model: string;
  /** `provider/model`, the breaker's name for it. */
  id: string;
  /** The model's name in metric labels: itself when declared, `other` when not (bounded cardinality). */
  label: string;
  timeouts: TimeoutsConfig;
  /** Declared context window in tokens, if any. */
  contextWindow?: number;
  /** Whether this target continues from an assistant prefill (target, else provider). */
  prefill: boolean;
  /** Same-target retries for transient failures. */
  retries: number;
  /** Whether a timeout is retried on the same target too. */
  retryOnTimeout: boolean;
  /** Share of calls under the `weighted` strategy. */
  weight?: number;
  /** USD per million tokens: the target's own price, else ai.prices["provider/model"]. */
  price?: Price;
}

export interface Route {
  /** What the caller asked for: an alias or `provider/model`. */
  id: string;
  targets: RouteTarget[];
  maxAttempts: number;
  continuation: boolean;
  /** Failure classes that move on to the next target instead of being final. */
  fallbackOn: ReadonlySet<string>;
  /** A client-chosen `provider/model` (no alias): a refusal there never reaches other models. */
  direct: boolean;
  /** How targets are ranked (src/ai/strategies/order.ts); default 'ordered'. */
  strategy: Strategy;
}

/** Metric label of models no one declared. */
export const OTHER_MODEL = 'other';

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
  /** Per provider: the models it declares (`models`) and the ones routes name. */
  readonly #declared = new Map<string, Set<string>>();

  constructor(config: ResolvedConfig) {
    this.#config = config;
    for (const [name, p] of Object.entries(config.providers)) this.#declared.set(name, new Set(modelNames(p.models)));
    for (const route of Object.values(config.models)) {
      for (const t of Array.isArray(route) ? route : route.targets) this.#declared.get(t.provider)?.add(t.model);
    }
    for (const [alias, route] of Object.entries(config.models)) {
      const r = Array.isArray(route)
        ? {
            targets: route,
            timeouts: undefined,
            maxAttempts: undefined,
            continuation: false,
            retries: undefined,
            retryOnTimeout: undefined,
            fallbackOn: undefined,
            strategy: 'ordered' as const,
          }
        : route;
      this.#aliases.set(alias, {
        id: alias,
        targets: r.targets.map((t) => this.#target(t, r.timeouts, r)),
        maxAttempts: r.maxAttempts ?? config.ai.maxAttempts,
        continuation: r.continuation,
        fallbackOn: new Set(r.fallbackOn ?? []),
        direct: false,
        strategy: r.strategy,
      });
    }
  }

  /** Whether a client may name `provider/model`: a declared model, or a provider with `anyModel`. */
  allows(provider: string, model: string): boolean {
    const p = Object.hasOwn(this.#config.providers, provider) ? this.#config.providers[provider] : undefined;
    if (!p) return false;
    return (p.anyModel ?? p.models === undefined) || this.#declared.get(provider)!.has(model);
  }

  /** The model's metric label: itself when declared, `other` otherwise. */
  label(provider: string, model: string): string {
    return this.#declared.get(provider)?.has(model) ? model : OTHER_MODEL;
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
      const upstreamModel = model.slice(slash + 1);
      if (Object.hasOwn(this.#config.providers, provider)) {
        if (!this.allows(provider, upstreamModel)) {
          const declared = [...this.#declared.get(provider)!];
          throw new NotFoundError(
            `unknown model "${model}": provider "${provider}" declares only ${declared.map((m) => `${provider}/${m}`).join(', ') || 'no models'}; add it to providers.${provider}.models or set providers.${provider}.anyModel: true`,
            { code: 'TL_ERR_AI_UNKNOWN_MODEL', details: { model } },
          );
        }
        const route: Route = {
          id: model,
          targets: [this.#target({ provider, model: upstreamModel }, undefined, {})],
          maxAttempts: this.#config.ai.maxAttempts,
          continuation: false,
          fallbackOn: new Set(),
          direct: true,
          strategy: 'ordered',
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
    return [...this.#aliases.values()].map((r) => ({
      id: r.id,
      targets: r.targets.map((t) => ({ provider: t.provider, model: t.model })),
    }));
  }

  #target(
    t: TargetConfig,
    routeTimeouts: Partial<TimeoutsConfig> | undefined,
    r: { retries?: number | undefined; retryOnTimeout?: boolean | undefined },
  ): RouteTarget {
    const provider = this.#config.providers[t.provider];
    // Facts declared once on the provider's model (providers.<p>.models as a map); the target's own win.
    const facts = modelFacts(provider?.models, t.model);
    const target: RouteTarget = {
      provider: t.provider,
      model: t.model,
      id: `${t.provider}/${t.model}`,
      label: this.label(t.provider, t.model),
      timeouts: { ...this.#config.ai.timeouts, ...stripUndefined(provider?.timeouts), ...stripUndefined(routeTimeouts) },
      prefill: t.prefill ?? facts?.prefill ?? provider?.prefill ?? false,
      retries: t.retries ?? r.retries ?? 1,
      retryOnTimeout: t.retryOnTimeout ?? r.retryOnTimeout ?? false,
    };
    const contextWindow = t.contextWindow ?? facts?.contextWindow;
    if (contextWindow !== undefined) target.contextWindow = contextWindow;
    if (t.weight !== undefined) target.weight = t.weight;
    const price = priceOf(this.#config.ai.prices, t.provider, t.model, t.price ?? facts?.price);
    if (price) target.price = price;
    return target;
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
