import type { PriceConfig } from '../../config/index.js';
import type { Usage } from '../types.js';

/** A model's price in USD per million tokens. */
export type Price = PriceConfig;

/**
 * What one answer cost in USD, unrounded: prompt tokens at `input` (those the provider served
 * from its prompt cache at `cachedInput`, else `input`), completion tokens at `output`.
 */
export function costOf(usage: Usage, price: Price): number {
  const cached = Math.min(usage.prompt_tokens, usage.prompt_tokens_details?.cached_tokens ?? 0);
  const fresh = usage.prompt_tokens - cached;
  return (fresh * price.input + cached * (price.cachedInput ?? price.input) + usage.completion_tokens * price.output) / 1_000_000;
}

/** The price of `provider/model`: the target's own, else the table's (ai.prices and ai.pricesFile). */
export function priceOf(prices: Record<string, Price>, provider: string, model: string, own: Price | undefined): Price | undefined {
  return own ?? (Object.hasOwn(prices, `${provider}/${model}`) ? prices[`${provider}/${model}`] : undefined);
}
