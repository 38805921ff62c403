import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { Tally } from '../runtime/metrics.js';
import type { BreakerState } from './breaker.js';

type Counting = { inc(value?: number): void };

/** Figures per (provider, model, key index), made once, so the hot path does no label lookups. */
export interface KeyMetrics {
  ok: Counting;
  promptTokens: Counting;
  completionTokens: Counting;
  latency: Histogram.Internal<string>;
}

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** The orchestrator's Prometheus figures, registered on the runtime's registry. */
export class AiMetrics {
  readonly requests: Counter<string>;
  readonly failures: Counter<string>;
  readonly tokens: Counter<string>;
  readonly latency: Histogram<string>;
  readonly cooldowns: Counter<string>;
  readonly disabledKeys: Gauge<string>;
  readonly breaker: Gauge<string>;
  readonly cache: Counter<string>;
  /** Cache lookups by result, children made once. */
  readonly cacheHit: Counter.Internal;
  readonly cacheMiss: Counter.Internal;
  readonly cacheBypass: Counter.Internal;
  readonly #children = new Map<string, KeyMetrics>();
  /** Counts kept in plain numbers, handed to their counters when the registry is read. */
  readonly #tallies: Tally[] = [];

  constructor(registry: Registry) {
    const registers = [registry];
    const flush = (): void => {
      for (const t of this.#tallies) t.flush();
    };
    this.requests = new Counter({ name: 'tasklane_ai_requests_total', help: 'Upstream calls that succeeded, by provider, model and key index', labelNames: ['provider', 'model', 'key_index'], registers, collect: flush });
    this.failures = new Counter({ name: 'tasklane_ai_failures_total', help: 'Upstream calls that failed, by provider, model, key index and kind', labelNames: ['provider', 'model', 'key_index', 'kind'], registers });
    this.tokens = new Counter({ name: 'tasklane_ai_tokens_total', help: 'Tokens used, by provider, model, key index and type (prompt, completion)', labelNames: ['provider', 'model', 'key_index', 'type'], registers, collect: flush });
    this.latency = new Histogram({
      name: 'tasklane_ai_upstream_latency_seconds',
      help: 'Upstream call duration (to the full answer), by provider, model and key index',
      labelNames: ['provider', 'model', 'key_index'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.cooldowns = new Counter({ name: 'tasklane_ai_key_cooldowns_total', help: 'Times a key was cooled after a 429, by provider and key index', labelNames: ['provider', 'key_index'], registers });
    this.disabledKeys = new Gauge({ name: 'tasklane_ai_key_disabled', help: '1 when a key was disabled after the provider refused it (401/403)', labelNames: ['provider', 'key_index'], registers });
    this.breaker = new Gauge({ name: 'tasklane_ai_breaker_state', help: 'Circuit breaker per target: 0 closed, 1 half-open, 2 open', labelNames: ['provider', 'model'], registers });
    this.cache = new Counter({ name: 'tasklane_ai_cache_total', help: 'Cache lookups by result (hit, miss, bypass)', labelNames: ['result'], registers });
    this.cacheHit = this.cache.labels('hit');
    this.cacheMiss = this.cache.labels('miss');
    this.cacheBypass = this.cache.labels('bypass');
  }

  forKey(provider: string, model: string, keyIndex: number): KeyMetrics {
    const id = `${provider}\u0000${model}\u0000${keyIndex}`;
    let m = this.#children.get(id);
    if (!m) {
      const key = String(keyIndex);
      const ok = this.requests.labels(provider, model, key);
      const prompt = this.tokens.labels(provider, model, key, 'prompt');
      const completion = this.tokens.labels(provider, model, key, 'completion');
      const latency = this.latency.labels(provider, model, key);
      if (this.#children.size >= 10_000) return { ok, promptTokens: prompt, completionTokens: completion, latency };
      const tallies = [new Tally(ok), new Tally(prompt), new Tally(completion)] as const;
      this.#tallies.push(...tallies);
      m = { ok: tallies[0], promptTokens: tallies[1], completionTokens: tallies[2], latency };
      this.#children.set(id, m);
    }
    return m;
  }

  breakerState(provider: string, model: string, state: BreakerState): void {
    this.breaker.labels(provider, model).set(BREAKER_VALUE[state]);
  }
}
