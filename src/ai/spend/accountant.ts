import { Counter } from 'prom-client';
import type { ClientKey } from '../../config/index.js';
import { StoreError, TasklaneError, budgetExceeded } from '../../errors.js';
import type { Host } from '../../runtime/host.js';
import { costOf, type Price } from '../cost/price.js';
import type { AiCallOptions, Usage } from '../types.js';
import { resetsOf, type SpendStore } from './spend-store.js';

/** Tokens reserved for an answer whose request names no max_tokens (limits.tokensPerMinute). */
export const DEFAULT_RESERVED_COMPLETION = 1_024;

/** What admit() let through: settled (or released) exactly once when the call ends. */
export interface Ticket {
  client?: { key: string; tenant?: string };
  job?: { id: string; step?: string };
  /** Tokens reserved in a minute window, with the window. */
  reserved: number;
  window?: number;
  done: boolean;
}

/** Who served an answer, for the price and the metric labels. */
export interface Served {
  provider: string;
  /** The model's metric label (declared model or `other`). */
  label: string;
  price: Price | undefined;
}

/**
 * Budgets, token limits and spend per client key (server.apiKeys[].budget / limits), checked
 * before any provider call and charged from the upstream's usage afterwards. The figures live in
 * a SpendStore (SQLite, or Redis for a fleet); the cost counter is labelled by key name, never
 * by the key.
 */
export class Accountant {
  readonly #host: Host;
  readonly store: SpendStore;
  readonly #cost: Counter<string>;
  readonly #refusals: Counter<string>;
  #keys: ClientKey[];
  #byName = new Map<string, ClientKey>();

  constructor(host: Host, store: SpendStore) {
    this.#host = host;
    this.store = store;
    this.#keys = [];
    this.useKeys(host.config.server.apiKeys);
    this.#cost = new Counter({
      name: 'tasklane_ai_cost_usd_total',
      help: 'Cost of AI answers in USD (from upstream usage and ai.prices), by provider, model and client key name',
      labelNames: ['provider', 'model', 'client'],
      registers: [host.metrics],
    });
    this.#refusals = new Counter({
      name: 'tasklane_ai_budget_refusals_total',
      help: 'AI calls refused before any provider call: a client key past its budget or token limit',
      labelNames: ['client', 'limit'],
      registers: [host.metrics],
    });
  }

  /**
   * Lets a call through or throws 429 TL_ERR_AI_BUDGET_EXCEEDED naming the budget or limit and
   * when it resets. `estimate` is the tokens to reserve (prompt estimate + max_tokens).
   */
  async admit(options: AiCallOptions, estimate: number): Promise<Ticket> {
    const ticket: Ticket = { reserved: 0, done: false };
    if (options.client) ticket.client = options.client;
    if (options.job) ticket.job = options.job;
    const entry = options.client && this.#entry(options.client.key);
    if (!entry || (!entry.budget && !entry.limits?.tokensPerMinute)) return ticket;
    const now = Date.now();
    try {
      const b = entry.budget;
      if (b?.usdPerDay !== undefined || b?.usdPerMonth !== undefined) {
        const spent = await this.store.spent('key', entry.name, now);
        const resets = resetsOf(now);
        if (b.usdPerDay !== undefined && spent.day >= b.usdPerDay)
          throw this.#over(entry.name, 'usdPerDay', b.usdPerDay, spent.day, resets.day, now);
        if (b.usdPerMonth !== undefined && spent.month >= b.usdPerMonth)
          throw this.#over(entry.name, 'usdPerMonth', b.usdPerMonth, spent.month, resets.month, now);
      }
      const tpm = entry.limits?.tokensPerMinute;
      if (tpm !== undefined) {
        const r = await this.store.reserveTokens(entry.name, estimate, tpm, now);
        if (!r.ok) {
          this.#refusals.labels(entry.name, 'tokensPerMinute').inc();
          throw budgetExceeded(
            `client key "${entry.name}" is at its token limit (server.apiKeys limits.tokensPerMinute ${tpm}; ${r.used} used or reserved this minute, this call reserves ${estimate}); it resets in ${r.retryAfterMs} ms`,
            r.retryAfterMs,
            { limit: 'tokensPerMinute', max: tpm, used: r.used, reserve: estimate, resetsAt: now + r.retryAfterMs },
          );
        }
        ticket.reserved = estimate;
        ticket.window = r.window;
      }
    } catch (err) {
      if (TasklaneError.isInstance(err)) throw err;
      // A key with a budget is not let through on a store that cannot answer.
      throw new StoreError(
        'TL_ERR_STORE_UNAVAILABLE',
        `the spend store cannot check the budget of "${entry.name}": ${this.#host.scrub((err as Error).message)}`,
        {
          cause: err,
        },
      );
    }
    return ticket;
  }

  /** Charges what an answer cost (from its usage); returns the cost when the model has a price. */
  settle(ticket: Ticket, served: Served, usage: Usage | undefined): number | undefined {
    if (ticket.done) return usage?.cost;
    ticket.done = true;
    this.#unreserve(ticket, usage?.total_tokens ?? 0);
    if (!usage) return undefined;
    const usd = served.price ? costOf(usage, served.price) : undefined;
    if (usd !== undefined) {
      usage.cost = usd;
      this.#cost.labels(served.provider, served.label, ticket.client?.key ?? '').inc(usd);
    }
    const charge = {
      at: Date.now(),
      provider: served.provider,
      usd: usd ?? 0,
      tokens: usage.total_tokens,
      ...(ticket.client ? { key: ticket.client.key, ...(ticket.client.tenant !== undefined ? { tenant: ticket.client.tenant } : {}) } : {}),
      ...(ticket.job ? { job: ticket.job } : {}),
    };
    this.store.charge(charge).catch((err: Error) => this.#report(err, 'could not record spend'));
    return usd;
  }

  /** A call that ended without an answer: its token reservation is given back. */
  release(ticket: Ticket): void {
    if (ticket.done) return;
    ticket.done = true;
    this.#unreserve(ticket, 0);
  }

  #unreserve(ticket: Ticket, used: number): void {
    if (ticket.window === undefined || !ticket.client) return;
    this.store
      .settleTokens(ticket.client.key, ticket.window, ticket.reserved, used)
      .catch((err: Error) => this.#report(err, 'could not settle a token reservation'));
  }

  #over(name: string, budget: 'usdPerDay' | 'usdPerMonth', max: number, spent: number, resetsAt: number, now: number): TasklaneError {
    this.#refusals.labels(name, budget).inc();
    const period = budget === 'usdPerDay' ? 'today (UTC)' : 'this month (UTC)';
    return budgetExceeded(
      `client key "${name}" is past its budget ${budget} of $${max} (spent $${spent} ${period}); it resets at ${new Date(resetsAt).toISOString()}`,
      Math.max(1, resetsAt - now),
      { budget, max, spent, resetsAt },
    );
  }

  /** The client keys in force, with their budgets and limits (replaced by a configuration reload). */
  get keys(): readonly ClientKey[] {
    return this.#keys;
  }

  useKeys(keys: ClientKey[]): void {
    this.#keys = keys;
    this.#byName = new Map(keys.map((k) => [k.name, k]));
  }

  #entry(name: string): ClientKey | undefined {
    return this.#byName.get(name);
  }

  #report(err: Error, what: string): void {
    this.#host.reportError(
      new StoreError('TL_ERR_STORE_UNAVAILABLE', `spend store: ${what}: ${this.#host.scrub(err.message)}`, { cause: err }),
    );
  }
}

/** Tokens to reserve for a chat request: a prompt estimate (4 characters a token) plus its max_tokens. */
export function estimateTokens(messages: Array<{ content?: unknown }> | undefined, maxTokens: number | undefined, text = ''): number {
  let chars = text.length;
  for (const m of messages ?? []) chars += typeof m.content === 'string' ? m.content.length : JSON.stringify(m.content ?? '').length;
  return Math.ceil(chars / 4) + (maxTokens ?? DEFAULT_RESERVED_COMPLETION);
}
