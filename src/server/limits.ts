import { ValidationError } from '../errors.js';

/**
 * Parses a JSON body and refuses nesting deeper than `maxDepth`: a deep body costs the parser and
 * every walker after it, so it is cut before it reaches a handler.
 */
export function parseJsonBounded(text: string, maxDepth: number): unknown {
  if (text.trim() === '') throw new ValidationError('the request body is empty; send a JSON object');
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
      if (max > maxDepth) throw new ValidationError(`the JSON body nests deeper than ${maxDepth} levels (server.jsonMaxDepth)`);
    } else if (c === 125 || c === 93) depth--;
  }
  try {
    return JSON.parse(text, (key, value) => (key === '__proto__' ? undefined : value));
  } catch (err) {
    throw new ValidationError(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** A token bucket per client key. `take()` returns 0 when allowed, else the ms until a token is free. */
export class RateLimiter {
  #buckets = new Map<string, { tokens: number; at: number }>();
  #perMs: number;
  #burst: number;

  constructor(perSecond: number, burst: number) {
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
  }

  take(key: string, now = performance.now()): number {
    let b = this.#buckets.get(key);
    if (!b) {
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(key, b);
      // Bounded memory: a flood of distinct keys cannot grow the map without end.
      if (this.#buckets.size > 10_000) this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#perMs);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / this.#perMs);
  }
}
