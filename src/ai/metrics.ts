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
  /** 403 refusals of a (key, model) pair. */
  readonly refusals: Counter<string>;
  /** Skipped stream events whose JSON did not parse. */
  readonly malformedEvents: Counter<string>;
  /** Waits for a cooldown to end instead of a 429 (count and time). */
  readonly cooldownWaits: Counter<string>;
  readonly cooldownWaitSeconds: Counter<string>;
  /** Entries dropped from a bounded per-(key, model) or per-target map. */
  readonly evictions: Counter<string>;
  /** (key, model) pairs cooling / refused right now, by provider and key index (read at scrape). */
  readonly coolingPairs: Gauge<string>;
  readonly refusedPairs: Gauge<string>;
  /** Set by the orchestrator: counts of cooling and refused pairs per (provider, key index). */
  pairCounts?: () => Array<{ provider: string; keyIndex: number; cooling: number; refused: number }>;
  readonly breaker: Gauge<string>;
  readonly cache: Counter<string>;
  /** Cache lookups by result, children made once. */
  readonly cacheHit: Counter.Internal;
  readonly cacheMiss: Counter.Internal;
  readonly cacheBypass: Counter.Internal;
  readonly #children = new Map<string, KeyMetrics>();
  /** Most (provider, model, key) children kept with their tallies; model labels are bounded by Routes.label anyway. */
  maxChildren = 10_000;
  /** Counts kept in plain numbers, handed to their counters when the registry is read. */
  readonly #tallies: Tally[] = [];

  constructor(registry: Registry) {
    const registers = [registry];
    const flush = (): void => {
      for (const t of this.#tallies) t.flush();
    };
    this.requests = new Counter({
      name: 'tasklane_ai_requests_total',
      help: 'Upstream calls that succeeded, by provider, model and key index',
      labelNames: ['provider', 'model', 'key_index'],
      registers,
      collect: flush,
    });
    this.failures = new Counter({
      name: 'tasklane_ai_failures_total',
      help: 'Upstream calls that failed, by provider, model, key index and kind',
      labelNames: ['provider', 'model', 'key_index', 'kind'],
      registers,
    });
    this.tokens = new Counter({
      name: 'tasklane_ai_tokens_total',
      help: 'Tokens used, by provider, model, key index and type (prompt, completion)',
      labelNames: ['provider', 'model', 'key_index', 'type'],
      registers,
      collect: flush,
    });
    this.latency = new Histogram({
      name: 'tasklane_ai_upstream_latency_seconds',
      help: 'Upstream call duration (to the full answer), by provider, model and key index',
      labelNames: ['provider', 'model', 'key_index'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.cooldowns = new Counter({
      name: 'tasklane_ai_key_cooldowns_total',
      help: 'Times a 429 cooled a (key, model) pair or a whole key, by provider, key index, model (undeclared: other) and scope (model, key)',
      labelNames: ['provider', 'key_index', 'model', 'scope'],
      registers,
    });
    this.disabledKeys = new Gauge({
      name: 'tasklane_ai_key_disabled',
      help: '1 while a key is disabled after a 401 (re-probed on a backoff)',
      labelNames: ['provider', 'key_index'],
      registers,
    });
    this.refusals = new Counter({
      name: 'tasklane_ai_key_refusals_total',
      help: 'Times a 403 refused a (key, model) pair, by provider, key index and model (undeclared: other)',
      labelNames: ['provider', 'key_index', 'model'],
      registers,
    });
    this.malformedEvents = new Counter({
      name: 'tasklane_ai_malformed_events_total',
      help: 'Upstream stream events skipped because their JSON did not parse, by provider and model',
      labelNames: ['provider', 'model'],
      registers,
    });
    this.cooldownWaits = new Counter({
      name: 'tasklane_ai_cooldown_waits_total',
      help: 'Requests that waited out a short cooldown instead of answering 429',
      labelNames: [],
      registers,
    });
    this.cooldownWaitSeconds = new Counter({
      name: 'tasklane_ai_cooldown_wait_seconds_total',
      help: 'Time requests spent waiting out cooldowns',
      labelNames: [],
      registers,
    });
    this.evictions = new Counter({
      name: 'tasklane_ai_state_evictions_total',
      help: 'Entries evicted from a bounded AI state map (ai.maxTrackedPairs), by map',
      labelNames: ['map'],
      registers,
    });
    const pairs = (): Array<{ provider: string; keyIndex: number; cooling: number; refused: number }> => this.pairCounts?.() ?? [];
    this.coolingPairs = new Gauge({
      name: 'tasklane_ai_cooling_pairs',
      help: '(key, model) pairs cooling right now, by provider and key index',
      labelNames: ['provider', 'key_index'],
      registers,
      collect() {
        this.reset();
        for (const p of pairs()) this.labels(p.provider, String(p.keyIndex)).set(p.cooling);
      },
    });
    this.refusedPairs = new Gauge({
      name: 'tasklane_ai_refused_pairs',
      help: '(key, model) pairs refused (403) right now, by provider and key index',
      labelNames: ['provider', 'key_index'],
      registers,
      collect() {
        this.reset();
        for (const p of pairs()) this.labels(p.provider, String(p.keyIndex)).set(p.refused);
      },
    });
    this.breaker = new Gauge({
      name: 'tasklane_ai_breaker_state',
      help: 'Circuit breaker per target: 0 closed, 1 half-open, 2 open',
      labelNames: ['provider', 'model'],
      registers,
    });
    this.cache = new Counter({
      name: 'tasklane_ai_cache_total',
      help: 'Cache lookups by result (hit, miss, bypass)',
      labelNames: ['result'],
      registers,
    });
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
      if (this.#children.size >= this.maxChildren) return { ok, promptTokens: prompt, completionTokens: completion, latency };
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
