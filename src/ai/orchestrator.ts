// Over 350 lines: the entry points (chat, stream, embed) keep their cache, single-flight and accounting hooks in one place.
import type { ResolvedConfig } from '../config/index.js';
import { ClosedError } from '../errors.js';
import type { Logger } from '../runtime/index.js';
import { AnswerCache, BYPASS, type CacheLookup } from './answer-cache.js';
import type { BreakerBoard } from './breaker.js';
import { replayChunks, type CachedAnswer, type ResponseCache } from './cache.js';
import type { CooldownStore } from './cooldown-store.js';
import { MemoryCooldownStore } from './cooldown-store.js';
import { Dispatcher } from './dispatch.js';
import { failedAttempts, type AttemptRecord, type DispatchContext } from './dispatch-types.js';
import { embed } from './embed.js';
import type { CallAccounting } from './spend/call-accounting.js';
import type { Ticket } from './spend/accountant.js';
import type { KeyHealth } from './key-pool.js';
import type { AiMetrics } from './metrics.js';
import { replay, upstreamRequest } from './openai-chunks.js';
import type { LanguageModel } from './provider.js';
import { ProviderPools } from './provider-pools.js';
import { flightContext, soloContext } from './request-budget.js';
import { requestKey } from './request-key.js';
import { Routes, type Route } from './route.js';
import { SingleFlight } from './single-flight.js';
import { StreamFlight } from './stream-flight.js';
import { StreamProducer } from './stream-pump.js';
import { subscriberChunks, type StreamResult } from './stream-result.js';
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
  ServedBy,
  Usage,
} from './types.js';
import { validateChatRequest } from './validate.js';
import { traceEntryPoints } from './call-trace.js';
import type { Tracing } from '../telemetry/tracing.js';

export type { StreamResult } from './stream-result.js';

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
  /** Budgets, token limits, cost and spend (src/ai/spend/); without it nothing is charged. */
  accounting?: CallAccounting;
  runInLane?: <T>(fn: () => Promise<T>, signal: AbortSignal, timeoutMs: number, traceparent?: string) => Promise<T>;
  /** Request and attempt spans; default off. */
  tracing?: Tracing;
}

interface Generated extends ServedBy {
  completion: ChatCompletion;
  attempts: number;
  failedAttempts: AttemptRecord[];
  waitedMs?: number;
}

/**
 * The AI orchestrator: route → cache → single-flight → attempts over keys and targets. It owns
 * the provider adapters and closes them. `runtime.ai` is one of these. This file holds the entry
 * points; the attempt loop is in dispatch.ts (failure table: failure-policy.ts, effects on keys and
 * breakers: target-health.ts), the request budget in request-budget.ts, the cache policy in
 * answer-cache.ts, stream pumping and continuation in stream-pump.ts, the pure chunk work in
 * openai-chunks.ts.
 */
export class Orchestrator implements AiClient {
  /** Replaced whole by a reload (a request resolves its route once, so it keeps the one it got). */
  routes: Routes;
  readonly #deps: OrchestratorDeps;
  readonly #dispatcher: Dispatcher;
  readonly #producer: StreamProducer;
  readonly #pools: ProviderPools;
  readonly #generations = new SingleFlight<Generated>();
  readonly #streams = new Map<string, StreamFlight>();
  readonly #cache?: AnswerCache;
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
    const cooldowns = deps.cooldowns ?? new MemoryCooldownStore({ max: ai.maxTrackedPairs });
    cooldowns.onEvict = () => deps.metrics.evictions.labels('cooldowns').inc();
    this.#pools = new ProviderPools(config, deps.models, cooldowns, deps.metrics, deps.log);
    deps.metrics.maxChildren = ai.maxTrackedPairs;
    deps.metrics.pairCounts = () => this.#pools.pairCounts();
    this.#cache = ai.cache.enabled && deps.cache ? new AnswerCache(deps.cache, ai.cache.mode, deps.metrics, deps.log) : undefined;
    this.#keyed = this.#cache !== undefined || ai.singleFlight;
    this.#dispatcher = new Dispatcher({
      providers: this.#pools.entries,
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
      tracing: deps.tracing,
    });
    if (deps.tracing?.enabled) traceEntryPoints(this, deps.tracing);
    this.#producer = new StreamProducer({
      dispatcher: this.#dispatcher,
      log: deps.log,
      metrics: deps.metrics,
      maxMalformedEvents: ai.maxMalformedEvents,
      countTokens: (served, usage, flight) => {
        this.#countTokens(served, usage);
        deps.accounting?.chargeFlight(flight, served, usage);
      },
      store: (key, req, answer) => this.#cache?.store(key, req, answer),
    });
  }

  /**
   * The reload entry point (runtime.reload()): new provider keys and routes take effect for the
   * next request (see ProviderPools.reloadKeys); what needs a restart is named, not applied.
   */
  reloadKeysAndRoutes(next: ResolvedConfig, previous: ResolvedConfig): { applied: string[]; restart: string[] } {
    const { applied, restart } = this.#pools.reloadKeys(next, previous);
    // Budgets and token limits of client keys change with them (the server reports server.apiKeys).
    this.#deps.accounting?.accountant.useKeys(next.server.apiKeys);
    if (JSON.stringify(previous.models) !== JSON.stringify(next.models)) {
      if (restart.length > 0) restart.push('models');
      else {
        this.routes = new Routes({ ...next, providers: previous.providers });
        applied.push('models');
      }
    }
    return { applied, restart };
  }

  /** Budgets, spend and cost; undefined when accounting is off (no prices, budgets or token limits). */
  get accounting(): CallAccounting | undefined {
    return this.#deps.accounting;
  }

  /** A whole answer. Rejects with a TasklaneError (see docs/errors.md). */
  async chat(request: ChatRequest, options: AiCallOptions = {}): Promise<ChatResult> {
    this.#assertOpen();
    const req = validateChatRequest(request);
    const route = this.routes.resolve(req.model);
    const acct = this.#deps.accounting;
    return acct ? acct.chat(req, options, (ticket) => this.#chat(req, route, options, ticket)) : this.#chat(req, route, options);
  }

  async #chat(req: ChatRequest, route: Route, options: AiCallOptions, ticket?: Ticket): Promise<ChatResult> {
    const t0 = performance.now();
    const key = this.#keyed ? requestKey(req) : '';
    const cache = this.#cache ? await this.#cache.lookup(key, req, options) : BYPASS;
    if (cache.hit) return { completion: cache.hit.completion, meta: hitMeta(cache.hit, t0) };
    // Only the caller that starts the upstream call is charged for it (the ticket goes with it).
    const g = this.#deps.config.ai.singleFlight
      ? await this.#generations.run(key, options.signal, (signal) => this.#generate(route, req, key, signal, options, ticket)).promise
      : await this.#generateAlone(route, req, key, options, ticket);
    const meta: AiMeta = {
      provider: g.provider,
      model: g.model,
      keyIndex: g.keyIndex,
      attempts: g.attempts,
      latencyMs: ms(t0),
      cache: cache.status,
    };
    if (g.failedAttempts.length > 0) meta.failedAttempts = g.failedAttempts.map((a) => ({ ...a }));
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
    const acct = this.#deps.accounting;
    const ticket = await acct?.admit(req, options);
    const cache: CacheLookup = this.#cache ? await this.#cache.lookup(key, req, options).catch((e) => acct!.fail(ticket, e)) : BYPASS;
    if (cache.hit) {
      const h = acct ? acct.free(cache.hit) : cache.hit;
      acct?.release(ticket);
      return {
        meta: { ...hitMeta(h, t0), ...(acct ? { cost: 0 } : {}) },
        chunks: h.chunks?.length
          ? replayChunks(h as CachedAnswer & { chunks: ChatChunk[] }, includeUsage)
          : replay(h.completion, includeUsage),
      };
    }
    const shared = this.#deps.config.ai.singleFlight;
    let flight = shared ? this.#streams.get(key) : undefined;
    if (flight) acct?.release(ticket);
    else {
      const created = new StreamFlight();
      flight = created;
      acct?.bindFlight(created, ticket, route);
      // Without single-flight the flight is still registered (under a unique key) so close() can abort it.
      const slot = shared ? key : `${key}#${++this.#unshared}`;
      this.#streams.set(slot, created);
      void this.#produce(created, route, req, key, options).finally(() => {
        if (this.#streams.get(slot) === created) this.#streams.delete(slot);
        acct?.release(ticket);
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
    if (server.failedAttempts) meta.failedAttempts = server.failedAttempts.map((a) => ({ ...a }));
    if (server.waitedMs) meta.waitedMs = server.waitedMs;
    return { meta, chunks: subscriberChunks(first, it, flight, meta) };
  }

  /** The chunks of a streamed answer; an in-band failure is thrown after the chunks already yielded. */
  async *stream(request: ChatRequest, options: AiCallOptions = {}): AsyncGenerator<ChatChunk, void, undefined> {
    const s = await this.openStream(request, options);
    yield* s.chunks;
  }

  /** Embeddings (src/ai/embed.ts): the same routes, keys, cooldowns, breakers, retries and cache as chat. */
  async embed(request: EmbeddingRequest, options: AiCallOptions = {}): Promise<EmbeddingResult> {
    this.#assertOpen();
    const acct = this.#deps.accounting;
    return acct ? acct.embed(request, options, this.routes, () => this.#embed(request, options)) : this.#embed(request, options);
  }

  #embed(request: EmbeddingRequest, options: AiCallOptions): Promise<EmbeddingResult> {
    const d = this.#dispatcher;
    return embed(
      {
        routes: this.routes,
        models: this.#deps.models,
        cache: this.#cache?.cache,
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
      providers: [...this.#pools.entries.values()].map((p) => ({ name: p.name, type: p.model.type, keys: p.pool.health(now) })),
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
    await Promise.allSettled([...this.#pools.entries.values()].map((p) => p.model.close()));
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('AI orchestrator');
  }

  /** A call that shares nothing (single-flight off): registered so close() can abort it. */
  async #generateAlone(route: Route, req: ChatRequest, key: string, options: AiCallOptions, ticket?: Ticket): Promise<Generated> {
    const { ctx, controller, dispose } = soloContext(route, options);
    this.#calls.add(controller);
    try {
      return await this.#attempts(ctx, req, key, ticket);
    } finally {
      this.#calls.delete(controller);
      dispose();
    }
  }

  async #generate(route: Route, req: ChatRequest, key: string, signal: AbortSignal, options: AiCallOptions, ticket?: Ticket) {
    const { ctx, dispose } = flightContext(route, signal, options);
    try {
      return await this.#attempts(ctx, req, key, ticket);
    } finally {
      dispose();
    }
  }

  async #attempts(ctx: DispatchContext, req: ChatRequest, key: string, ticket?: Ticket): Promise<Generated> {
    const { value, served } = await this.#dispatcher.run(ctx, (a) =>
      a.model.doGenerate({
        request: upstreamRequest(req, a.target.model, false),
        apiKey: a.lease.apiKey,
        keyIndex: a.lease.keyIndex,
        signal: a.signal,
        timeouts: a.timeouts,
      }),
    );
    const completion = value.completion;
    this.#countTokens(served, completion.usage);
    this.#deps.accounting?.charge(ticket, ctx.route, served, completion.usage);
    this.#cache?.store(key, req, { completion, ...served });
    return {
      completion,
      ...served,
      attempts: ctx.attempts.length,
      failedAttempts: failedAttempts(ctx.attempts),
      ...(ctx.waitedMs ? { waitedMs: ctx.waitedMs } : {}),
    };
  }

  /** Runs a flight's upstream side within the request's budget (see stream-pump.ts). */
  async #produce(flight: StreamFlight, route: Route, req: ChatRequest, key: string, options: AiCallOptions): Promise<void> {
    const { ctx, dispose } = flightContext(route, flight.controller.signal, options);
    try {
      await this.#producer.produce(flight, route, req, key, ctx);
    } finally {
      dispose();
    }
  }

  #countTokens(served: ServedBy, usage: Usage | undefined): void {
    if (!usage) return;
    // Undeclared models count under `other` (bounded cardinality).
    const m = this.#deps.metrics.forKey(served.provider, this.routes.label(served.provider, served.model), served.keyIndex);
    if (usage.prompt_tokens) m.promptTokens.inc(usage.prompt_tokens);
    if (usage.completion_tokens) m.completionTokens.inc(usage.completion_tokens);
  }
}

/** The meta of an answer from the cache: who served it first, no attempt now. */
function hitMeta(h: CachedAnswer, t0: number): AiMeta {
  const meta: AiMeta = { provider: h.provider, model: h.model, keyIndex: h.keyIndex, attempts: 0, latencyMs: ms(t0), cache: 'hit' };
  if (h.completion.usage) meta.usage = h.completion.usage;
  return meta;
}

function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 100) / 100;
}
