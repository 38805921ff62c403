import { rateLimited } from '../errors.js';
import type { Principal } from './auth.js';
import { RateLimiter } from './limits.js';

/**
 * Request buckets per client key: a key whose entry has `limits.requestsPerMinute` gets a bucket
 * of its own (that many a minute, bursts up to the same number); every other key shares the
 * shape of `server.rateLimit` (one bucket each), or none. Over it: 429 TL_ERR_RATE_LIMITED with Retry-After.
 */
export class KeyLimits {
  readonly #default?: RateLimiter;
  readonly #own = new Map<string, { rpm: number; limiter: RateLimiter }>();

  constructor(rate: { perSecond: number; burst: number } | undefined) {
    if (rate) this.#default = new RateLimiter(rate.perSecond, rate.burst);
  }

  take(principal: Principal): void {
    const rpm = principal.requestsPerMinute;
    let waitMs: number;
    if (rpm !== undefined && principal.name !== undefined) {
      let own = this.#own.get(principal.name);
      if (!own || own.rpm !== rpm) {
        own = { rpm, limiter: new RateLimiter(rpm / 60, rpm) };
        this.#own.set(principal.name, own);
      }
      waitMs = own.limiter.take(principal.name);
    } else waitMs = this.#default?.take(String(principal.keyIndex)) ?? 0;
    if (waitMs > 0) {
      const which = rpm !== undefined ? `its limits.requestsPerMinute (${rpm})` : 'server.rateLimit';
      throw rateLimited(`too many requests for this key (${which}); retry in ${waitMs} ms`, waitMs);
    }
  }
}
