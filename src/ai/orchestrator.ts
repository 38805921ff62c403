import type { ResolvedConfig } from '../config/index.js';
import { ClosedError, TasklaneError } from '../errors.js';
import type { Logger } from '../runtime/index.js';
import type { BreakerBoard } from './breaker.js';
import { cacheAdmits, replayChunks, type CachedAnswer, type ResponseCache } from './cache.js';
import type { CooldownStore } from './cooldown-store.js';
import { MemoryCooldownStore } from './cooldown-store.js';
import { Dispatcher, type DispatchContext, type ProviderEntry } from './dispatch.js';
import { KeyPool, type KeyHealth } from './key-pool.js';
import type { AiMetrics } from './metrics.js';
import type { LanguageModel } from './provider.js';
import { requestKey } from './request-key.js';
import { Routes, type Route } from './route.js';
import { SingleFlight } from './single-flight.js';
import { replay, upstreamRequest } from './openai-chunks.js';
import { StreamFlight } from './stream-flight.js';
import { StreamProducer } from './stream-pump.js';
import type {
  AiCallOptions,
  AiClient,
  AiMeta,
  ChatChunk,
  ChatCompletion,
  ChatRequest,
  ChatResult,
  EmbeddingRequest,
  EmbeddingResult,
  Usage,
} from './types.js';
import { embed } from './embed.js';
import { validateChatRequest } from './validate.js';

/** A stream whose first chunk is ready: who serves it, then the chunks (the first included). */
export interface StreamResult {
  /** Provider, model, key index, attempts, latency to the first chunk, cache status; `usage` once done. */
  meta: AiMeta;
  chunks: AsyncIterable<ChatChunk>;
}

export interface AiHealth {
  providers: Array<{ name: string; type: string; keys: KeyHealth[] }>;
  breakers: Array<{ target: string; state: string; failures: number; retryAt?: number }>;
}

export interface OrchestratorDeps {
  config: ResolvedConfig;
  log: Logger;
  metrics: AiMetrics;
  /** One adapter per configured provider, owned (and closed) by the orchestrator. */
  models: Map<string, LanguageModel>;
  cooldowns?: CooldownStore;
  cache?: ResponseCache;
  board?: BreakerBoard;
  runInLane?: <T>(fn: () => Promise<T>, signal: AbortSignal, timeoutMs: number) => Promise<T>;
}

interface Generated {
  completion: ChatCompletion;
  provider: string;
  model: string;
  keyIndex: number;
  attempts: number;
  waitedMs?: number;
}

/** The lookup result without a cache (no await on the hot path). */
const BYPASS: { hit?: CachedAnswer; status: AiMeta['cache'] } = Object.freeze({ status: 'bypass' });

/** Finish reasons of a whole answer worth replaying; anything else is never cached. */
const CACHEABLE = new Set(['stop', 'length', 'tool_calls', 'function_call']);

/**
 * The AI orchestrator: route → cache → single-flight → attempts over keys and targets. It owns
 * the provider adapters and closes them. `runtime.ai` is one of these. This file holds the entry
 * points; the attempt loop and failure table are in dispatch.ts and failure-policy.ts, stream
 * pumping and continuation in stream-pump.ts, the pure chunk work in openai-chunks.ts.
 */
export class Orchestrator implements AiClient {
  /** Replaced whole by a reload (a request resolves its route once, so it keeps the one it got). */
  routes: Routes;
  readonly #cooldowns: CooldownStore;
  readonly #deps: OrchestratorDeps;
  readonly #dispatcher: Dispatcher;
  readonly #producer: StreamProducer;
  readonly #providers = new Map<string, ProviderEntry>();
  readonly #generations = new SingleFlight<Generated>();
  readonly #streams = new Map<string, StreamFlight>();
  readonly #cache?: ResponseCache;
  /** Requests the cache policy let in (cacheAdmits), so that only their answers are stored. */
  readonly #admitted = new WeakSet<ChatRequest>();
  /** Calls without single-flight, so close() can abort them. */
  readonly #calls = new Set<AbortController>();
  #closed = false;
  #unshared = 0;
  /** Whether requests need a key (for the cache or single-flight). */
  readonly #keyed: boolean;

  constructor(deps: OrchestratorDeps) {
    this.#deps = deps;
    const { config } = deps;
    this.routes = new Routes(config);
    const ai = config.ai;
    const evicted = (map: string) => () => deps.metrics.evictions.labels(map).inc();
    const cooldowns = deps.cooldowns ?? new MemoryCooldownStore({ max: ai.maxTrackedPairs });
    cooldowns.onEvict = evicted('cooldowns');
    this.#cooldowns = cooldowns;
    for (const [name, model] of deps.models) {
      const p = config.providers[name]!;
      const pool = new KeyPool(name, p.apiKeys, cooldowns, {
        concurrency: p.keyConcurrency ?? Infinity,
        maxPairs: ai.maxTrackedPairs,
        onEvict: (map) => evicted(map)(),
      });
      this.#providers.set(name, { name, model, pool, log: deps.log.child({ provider: name }) });
    }
    deps.metrics.maxChildren = ai.maxTrackedPairs;
    deps.metrics.pairCounts = () => {
      const out: Array<{ provider: string; keyIndex: number; cooling: number; refused: number }> = [];
      const now = Date.now();
      for (const p of this.#providers.values()) {
        for (const k of p.pool.health(now)) {
          out.push({
            provider: p.name,
            keyIndex: k.index,
            cooling: k.models.filter((m) => m.coolingUntil).length,
            refused: k.models.filter((m) => m.refusedUntil).length,
          });
        }
      }
      return out;
    };
    this.#cache = config.ai.cache.enabled ? deps.cache : undefined;
    this.#keyed = this.#cache !== undefined || config.ai.singleFlight;
    this.#dispatcher = new Dispatcher({
      providers: this.#providers,
      metrics: deps.metrics,
      log: deps.log,
      defaultCooldownMs: ai.defaultCooldownMs,
      breaker: ai.breaker,
      backoff: ai.backoff,
      board: deps.board,
      policy: {
        minCooldownMs: ai.minCooldownMs,
        maxRetryAfterWaitMs: ai.maxRetryAfterWaitMs,
        refusalMs: ai.refusalMs,
        authReprobeMs: ai.authReprobeMs,
        authReprobeMaxMs: ai.authReprobeMaxMs,
        maxTrackedPairs: ai.maxTrackedPairs,
      },
      rateLimitScope: (provider) => config.providers[provider]?.rateLimitScope ?? 'model',
      runInLane: deps.runInLane ?? ((fn) => fn()),
    });
    this.#producer = new StreamProducer({
      dispatcher: this.#dispatcher,
      log: deps.log,
      metrics: deps.metrics,
      maxMalformedEvents: ai.maxMalformedEvents,
      countTokens: (provider, model, keyIndex, usage) => this.#countTokens(provider, model, keyIndex, usage),
      store: (key, req, answer) => this.#store(key, req, answer),
    });
  }

  /**
   * The reload entry point (runtime.reload()): new provider keys and routes take effect for the
   * next request. A provider whose keys changed gets a new key pool; calls in flight hold a lease
   * on the old one, so they finish with the key they started with. Adding or removing a provider,
   * or changing anything else about one (URL, type, headers), needs a restart: named, not applied.
   */
  reloadKeysAndRoutes(next: ResolvedConfig, previous: ResolvedConfig): { applied: string[]; restart: string[] } {
    const applied: string[] = [];
    const restart: string[] = [];
    const ai = next.ai;
    for (const name of new Set([...Object.keys(previous.providers), ...Object.keys(next.providers)])) {
      const a = previous.providers[name];
      const b = next.providers[name];
      const entry = this.#providers.get(name);
      if (!a || !b || !entry) {
        restart.push(`providers.${name}`);
        continue;
      }
      const { apiKeys: keysA, ...restA } = a;
      const { apiKeys: keysB, ...restB } = b;
      if (JSON.stringify(restA) !== JSON.stringify(restB)) restart.push(`providers.${name}`);
      if (keysA.length !== keysB.length || keysA.some((k, i) => k !== keysB[i])) {
        entry.pool = new KeyPool(name, keysB, this.#cooldowns, {
          concurrency: b.keyConcurrency ?? Infinity,
          maxPairs: ai.maxTrackedPairs,
          onEvict: (map) => this.#deps.metrics.evictions.labels(map).inc(),
        });
        applied.push(`providers.${name}.apiKeys`);
      }
    }
    if (JSON.stringify(previous.models) !== JSON.stringify(next.models)) {
      if (restart.length > 0) restart.push('models');
      else {
        this.routes = new Routes({ ...next, providers: previous.providers });
        applied.push('models');
      }
    }
    return { applied, restart };
  }

  /** A whole answer. Rejects with a TasklaneError (see docs/errors.md). */
  async chat(request: ChatRequest, options: AiCallOptions = {}): Promise<ChatResult> {
    this.#assertOpen();
    const req = validateChatRequest(request);
    const route = this.routes.resolve(req.model);
    const t0 = performance.now();
    const key = this.#keyed ? requestKey(req) : '';
    const cache = this.#cache ? await this.#lookup(key, req, options) : BYPASS;
    if (cache.hit) {
      const h = cache.hit;
      return {
        completion: h.completion,
        meta: {
          provider: h.provider,
          model: h.model,
          keyIndex: h.keyIndex,
          attempts: 0,
          latencyMs: ms(t0),
          cache: 'hit',
          ...(h.completion.usage ? { usage: h.completion.usage } : {}),
        },
      };
    }
    const g = this.#deps.config.ai.singleFlight
      ? await this.#generations.run(key, options.signal, (signal) => this.#generate(route, req, key, signal, options)).promise
      : await this.#generateAlone(route, req, key, options);
    const meta: AiMeta = {
      provider: g.provider,
      model: g.model,
      keyIndex: g.keyIndex,
      attempts: g.attempts,
      latencyMs: ms(t0),
      cache: cache.status,
    };
    if (g.waitedMs) meta.waitedMs = g.waitedMs;
    if (g.completion.usage) meta.usage = g.completion.usage;
    return { completion: g.completion, meta };
  }

  /**
   * Starts a stream and resolves once its first chunk is ready, so a failure before any byte can
   * still become a plain error (an HTTP status). After that, a failure is thrown by the iterator.
   */
  async openStream(request: ChatRequest, options: AiCallOptions = {}): Promise<StreamResult> {
    this.#assertOpen();
    const req = validateChatRequest(request);
    const route = this.routes.resolve(req.model);
    const t0 = performance.now();
    const key = this.#keyed ? requestKey(req) : '';
    const includeUsage = req.stream_options?.include_usage === true;
    const cache = this.#cache ? await this.#lookup(key, req, options) : BYPASS;
    if (cache.hit) {
      const h = cache.hit;
      const meta: AiMeta = { provider: h.provider, model: h.model, keyIndex: h.keyIndex, attempts: 0, latencyMs: ms(t0), cache: 'hit' };
      if (h.completion.usage) meta.usage = h.completion.usage;
      return {
        meta,
        chunks: h.chunks?.length
          ? replayChunks(h as CachedAnswer & { chunks: ChatChunk[] }, includeUsage)
          : replay(h.completion, includeUsage),
      };
    }
    const shared = this.#deps.config.ai.singleFlight;
    let flight = shared ? this.#streams.get(key) : undefined;
    if (!flight) {
      const created = new StreamFlight();
      flight = created;
      // Without single-flight the flight is still registered (under a unique key) so close() can abort it.
      const slot = shared ? key : `${key}#${++this.#unshared}`;
      this.#streams.set(slot, created);
      void this.#produce(created, route, req, key, options).finally(() => {
        if (this.#streams.get(slot) === created) this.#streams.delete(slot);
      });
    }
    const it = flight.subscribe(options.signal, includeUsage);
    const first = await it.next();
    const server = flight.server!;
    const meta: AiMeta = {
      provider: server.provider,
      model: server.model,
      keyIndex: server.keyIndex,
      attempts: server.attempts,
      latencyMs: ms(t0),
      cache: cache.status,
    };
    if (server.waitedMs) meta.waitedMs = server.waitedMs;
    const f = flight;
    // A plain iterator over the subscription (no generator of its own): the first chunk, then the
    // rest; usage goes into meta at the end; return() leaves the flight.
    let head: IteratorResult<ChatChunk, void> | undefined = first.done ? undefined : first;
    const chunks: AsyncIterableIterator<ChatChunk> = {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        if (head) {
          const r = head;
          head = undefined;
          return r as IteratorResult<ChatChunk>;
        }
        const r = await it.next();
        if (r.done && f.usage) meta.usage = f.usage;
        return r as IteratorResult<ChatChunk>;
      },
      async return() {
        head = undefined;
        await it.return();
        return { done: true, value: undefined };
      },
    };
    return { meta, chunks };
  }

  /** The chunks of a streamed answer; an in-band failure is thrown after the chunks already yielded. */
  async *stream(request: ChatRequest, options: AiCallOptions = {}): AsyncGenerator<ChatChunk, void, undefined> {
    const s = await this.openStream(request, options);
    yield* s.chunks;
  }

  /** Embeddings (src/ai/embed.ts): the same routes, keys, cooldowns, breakers, retries and cache as chat. */
  embed(request: EmbeddingRequest, options: AiCallOptions = {}): Promise<EmbeddingResult> {
    this.#assertOpen();
    const d = this.#dispatcher;
    return embed(
      {
        routes: this.routes,
        models: this.#deps.models,
        cache: this.#cache,
        metrics: this.#deps.metrics,
        run: (ctx, call) => d.run(ctx, call),
        calls: this.#calls,
      },
      request,
      options,
    );
  }

  /** The configured aliases and their targets. */
  models(): Array<{ id: string; targets: Array<{ provider: string; model: string }> }> {
    return this.routes.list();
  }

  health(): AiHealth {
    const now = Date.now();
    return {
      providers: [...this.#providers.values()].map((p) => ({ name: p.name, type: p.model.type, keys: p.pool.health(now) })),
      breakers: this.#dispatcher.breakers(),
    };
  }

  /** Aborts what is in flight and closes every adapter (and its connection pool). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new ClosedError('AI orchestrator');
    this.#generations.abortAll(reason);
    for (const c of this.#calls) c.abort(reason);
    for (const f of this.#streams.values()) f.controller.abort(reason);
    this.#dispatcher.close();
    await Promise.allSettled([...this.#providers.values()].map((p) => p.model.close()));
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('AI orchestrator');
  }

  async #lookup(key: string, req: ChatRequest, options: AiCallOptions): Promise<{ hit?: CachedAnswer; status: AiMeta['cache'] }> {
    if (!this.#cache) return { status: 'bypass' };
    if (!cacheAdmits(req, options, this.#deps.config.ai.cache.mode)) {
      this.#deps.metrics.cacheBypass.inc();
      return { status: 'bypass' };
    }
    this.#admitted.add(req);
    const hit = await this.#cache.get(key);
    (hit ? this.#deps.metrics.cacheHit : this.#deps.metrics.cacheMiss).inc();
    return hit ? { hit, status: 'hit' } : { status: 'miss' };
  }

  #store(key: string, req: ChatRequest, answer: CachedAnswer): void {
    if (!this.#cache || !this.#admitted.has(req) || !CACHEABLE.has(answer.completion.choices[0]?.finish_reason ?? '')) return;
    // A cache that cannot write is an optimization lost, never a failed answer.
    Promise.resolve(this.#cache.set(key, answer)).catch((err) => this.#deps.log.warn({ err }, 'the AI cache could not store an answer'));
  }

  #context(route: Route, signal: AbortSignal, options: AiCallOptions): { ctx: DispatchContext; dispose(): void } {
    const attempts: DispatchContext['attempts'] = [];
    const timeoutMs = options.timeoutMs;
    if (!timeoutMs || timeoutMs <= 0)
      return { ctx: { route, signal, attempts, limits: options.timeouts, deadline: Infinity }, dispose() {} };
    // The request's own budget: one controller that follows the callers' signal and the deadline.
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(budgetSpent(route, timeoutMs)), timeoutMs);
    return {
      ctx: { route, signal: controller.signal, attempts, limits: options.timeouts, deadline: Date.now() + timeoutMs },
      dispose() {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      },
    };
  }

  /**
   * A call that shares nothing (single-flight off): one controller follows the caller's signal,
   * the request's budget and close(), where a shared call needs one per flight and one per budget.
   */
  async #generateAlone(route: Route, req: ChatRequest, key: string, options: AiCallOptions): Promise<Generated> {
    const controller = new AbortController();
    const caller = options.signal;
    const onAbort = (): void => controller.abort(caller!.reason);
    if (caller?.aborted) onAbort();
    else caller?.addEventListener('abort', onAbort, { once: true });
    const timeoutMs = options.timeoutMs;
    const timer = timeoutMs && timeoutMs > 0 ? setTimeout(() => controller.abort(budgetSpent(route, timeoutMs)), timeoutMs) : undefined;
    const ctx: DispatchContext = {
      route,
      signal: controller.signal,
      attempts: [],
      limits: options.timeouts,
      deadline: timer ? Date.now() + timeoutMs! : Infinity,
    };
    this.#calls.add(controller);
    try {
      return await this.#attempts(ctx, req, key);
    } finally {
      this.#calls.delete(controller);
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    }
  }

  async #generate(route: Route, req: ChatRequest, key: string, signal: AbortSignal, options: AiCallOptions): Promise<Generated> {
    const { ctx, dispose } = this.#context(route, signal, options);
    try {
      return await this.#attempts(ctx, req, key);
    } finally {
      dispose();
    }
  }

  async #attempts(ctx: DispatchContext, req: ChatRequest, key: string): Promise<Generated> {
    const { value, target, keyIndex } = await this.#dispatcher.run(ctx, (a) =>
      a.model.doGenerate({
        request: upstreamRequest(req, a.target.model, false),
        apiKey: a.lease.apiKey,
        keyIndex: a.lease.keyIndex,
        signal: a.signal,
        timeouts: a.timeouts,
      }),
    );
    const completion = value.completion;
    this.#countTokens(target.provider, target.model, keyIndex, completion.usage);
    this.#store(key, req, { completion, provider: target.provider, model: target.model, keyIndex });
    return {
      completion,
      provider: target.provider,
      model: target.model,
      keyIndex,
      attempts: ctx.attempts.length,
      ...(ctx.waitedMs ? { waitedMs: ctx.waitedMs } : {}),
    };
  }

  /** Runs a flight's upstream side within the request's budget (see stream-pump.ts). */
  async #produce(flight: StreamFlight, route: Route, req: ChatRequest, key: string, options: AiCallOptions): Promise<void> {
    const { ctx, dispose } = this.#context(route, flight.controller.signal, options);
    try {
      await this.#producer.produce(flight, route, req, key, ctx);
    } finally {
      dispose();
    }
  }

  #countTokens(provider: string, model: string, keyIndex: number, usage: Usage | undefined): void {
    if (!usage) return;
    // Undeclared models count under `other` (bounded cardinality).
    const m = this.#deps.metrics.forKey(provider, this.routes.label(provider, model), keyIndex);
    if (usage.prompt_tokens) m.promptTokens.inc(usage.prompt_tokens);
    if (usage.completion_tokens) m.completionTokens.inc(usage.completion_tokens);
  }
}

function budgetSpent(route: Route, timeoutMs: number): TasklaneError {
  return new TasklaneError('TL_ERR_AI_TIMEOUT', `model "${route.id}": the request's ${timeoutMs} ms budget ran out`);
}

function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 100) / 100;
}
