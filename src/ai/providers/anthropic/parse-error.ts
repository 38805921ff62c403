import type { HeaderBag } from '../http/retry-after.js';
import type { UpstreamErrorInfo } from '../http/status.js';

/** Anthropic's error body: `{type:"error", error:{type, message}}`. Never throws. */
export function parseAnthropicError(text: string): UpstreamErrorInfo {
  try {
    const body = JSON.parse(text) as { error?: { type?: unknown; message?: unknown } };
    const info: UpstreamErrorInfo = {};
    if (typeof body.error?.message === 'string') info.message = body.error.message;
    if (typeof body.error?.type === 'string') info.type = body.error.type;
    return info;
  } catch {
    // Kept whole (the body read is bounded): it is cut only after secrets are replaced (quoteUpstream).
    return text.trim() ? { message: text.trim() } : {};
  }
}

const KINDS = ['requests', 'tokens', 'input-tokens', 'output-tokens'];

/**
 * The wait `anthropic-ratelimit-*` headers ask for: for each limit whose `-remaining` is 0, the
 * time to its `-reset` (an RFC 3339 instant); the longest of them, in ms. Read beside
 * `retry-after` (errorForStatus takes the larger), so a 429 without one still cools long enough.
 */
export function rateLimitResetMs(headers: HeaderBag, now = Date.now()): number | undefined {
  let wait: number | undefined;
  for (const kind of KINDS) {
    const remaining = headers[`anthropic-ratelimit-${kind}-remaining`];
    const reset = headers[`anthropic-ratelimit-${kind}-reset`];
    if (String(remaining ?? '').trim() !== '0' || typeof reset !== 'string') continue;
    const at = Date.parse(reset);
    if (Number.isNaN(at)) continue;
    wait = Math.max(wait ?? 0, Math.max(0, at - now));
  }
  return wait;
}
