import type { ResolvedConfig } from '../../config/index.js';
import { priceOf } from '../cost/price.js';
import { modelFacts } from '../model-facts.js';
import type { Route, Routes } from '../route.js';
import type { StreamFlight } from '../stream-flight.js';
import type {
  AiCallOptions,
  ChatCompletion,
  ChatRequest,
  ChatResult,
  EmbeddingRequest,
  EmbeddingResult,
  ServedBy,
  Usage,
} from '../types.js';
import { estimateTokens, type Accountant, type Ticket } from './accountant.js';

/**
 * The orchestrator's side of accounting: a ticket per caller (admitted before the cache and any
 * provider call, given back when the call ends), charged once per upstream answer, to the caller
 * that started it (one that joins a single-flight call or stream is not charged again), and the
 * cost written into the answer (`usage.cost`, `meta.cost`; 0 for a cache hit).
 */
export class CallAccounting {
  readonly accountant: Accountant;
  readonly #config: ResolvedConfig;
  readonly #label: (provider: string, model: string) => string;
  /** The ticket of the caller that started each stream flight. */
  readonly #flights = new WeakMap<StreamFlight, { ticket: Ticket; route: Route }>();

  constructor(accountant: Accountant, config: ResolvedConfig, label: (provider: string, model: string) => string) {
    this.accountant = accountant;
    this.#config = config;
    this.#label = label;
  }

  /** A chat call: admitted, run with its ticket, its cost put in the answer, the ticket given back. */
  async chat(req: ChatRequest, options: AiCallOptions, run: (ticket: Ticket) => Promise<ChatResult>): Promise<ChatResult> {
    const ticket = await this.admit(req, options);
    try {
      return this.answered(await run(ticket));
    } finally {
      this.release(ticket);
    }
  }

  /** An embeddings call: embeddings have no single-flight, so the caller pays for what it got. */
  async embed(
    req: EmbeddingRequest,
    options: AiCallOptions,
    routes: Routes,
    run: () => Promise<EmbeddingResult>,
  ): Promise<EmbeddingResult> {
    const input = req?.input;
    const text = typeof input === 'string' ? input : Array.isArray(input) ? input.join('') : '';
    const ticket = await this.accountant.admit(options, estimateTokens(undefined, 0, text));
    try {
      return this.embedded(ticket, routes.resolve(req.model), await run());
    } finally {
      this.release(ticket);
    }
  }

  /** Gives the ticket back and rethrows: for a failure before the call was started. */
  fail(ticket: Ticket | undefined, err: unknown): never {
    this.release(ticket);
    throw err;
  }

  admit(req: ChatRequest, options: AiCallOptions): Promise<Ticket> {
    return this.accountant.admit(options, estimateTokens(req.messages, req.max_tokens ?? req.max_completion_tokens));
  }

  /** Charges an upstream answer to the ticket; sets and returns `usage.cost` when the model has a price. */
  charge(ticket: Ticket | undefined, route: Route, served: ServedBy, usage: Usage | undefined): number | undefined {
    if (!ticket) return undefined;
    const own =
      route.targets.find((t) => t.provider === served.provider && t.model === served.model)?.price ??
      modelFacts(this.#config.providers[served.provider]?.models, served.model)?.price;
    const price = priceOf(this.#config.ai.prices, served.provider, served.model, own);
    return this.accountant.settle(ticket, { provider: served.provider, label: this.#label(served.provider, served.model), price }, usage);
  }

  /** The stream flight this caller started: charged when its usage comes in (chargeFlight). */
  bindFlight(flight: StreamFlight, ticket: Ticket | undefined, route: Route): void {
    if (ticket) this.#flights.set(flight, { ticket, route });
  }

  chargeFlight(flight: StreamFlight | undefined, served: ServedBy, usage: Usage | undefined): void {
    const f = flight && this.#flights.get(flight);
    if (f) this.charge(f.ticket, f.route, served, usage);
  }

  /** A chat answer as its caller gets it: `meta.cost` from the answer, 0 (and a copy saying so) for a cache hit. */
  answered(r: ChatResult): ChatResult {
    if (r.meta.cache === 'hit') {
      r.meta.cost = 0;
      if (!r.completion.usage) return r;
      const usage = { ...r.completion.usage, cost: 0 };
      r.meta.usage = usage;
      return { completion: { ...r.completion, usage }, meta: r.meta };
    }
    if (r.completion.usage?.cost !== undefined) r.meta.cost = r.completion.usage.cost;
    return r;
  }

  /** A cached answer as its caller gets it: nothing was paid for it now (`usage.cost` 0). */
  free<T extends { completion: ChatCompletion }>(h: T): T {
    const u = h.completion.usage;
    return u ? { ...h, completion: { ...h.completion, usage: { ...u, cost: 0 } } } : h;
  }

  /** The caller is charged for the embeddings it got (nothing for a cache hit). */
  embedded(ticket: Ticket, route: Route, r: EmbeddingResult): EmbeddingResult {
    if (r.meta.cache === 'hit') {
      r.meta.cost = 0;
      return r;
    }
    const cost = this.charge(ticket, route, r.meta, { ...r.response.usage, completion_tokens: 0 });
    if (cost !== undefined) {
      r.meta.cost = cost;
      (r.response.usage as Usage).cost = cost;
    }
    return r;
  }

  release(ticket: Ticket | undefined): void {
    if (ticket) this.accountant.release(ticket);
  }
}
