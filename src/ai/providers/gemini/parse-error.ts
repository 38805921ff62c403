import { parseDurationMs } from '../http/retry-after.js';
import type { UpstreamErrorInfo } from '../http/status.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Google's error body `{error:{code, message, status, details}}`: RESOURCE_EXHAUSTED is a rate
 * limit whose wait is the RetryInfo detail's `retryDelay` ("37s"); a prompt over the model's
 * window is a context-length error. Never throws.
 */
export function parseGeminiError(text: string): UpstreamErrorInfo {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // Kept whole (the body read is bounded): it is cut only after secrets are replaced (quoteUpstream).
    return text.trim() ? { message: text.trim() } : {};
  }
  const e = Array.isArray(body) ? (body[0] as Obj | undefined)?.error : isObj(body) ? body.error : undefined;
  if (!isObj(e)) return {};
  const info: UpstreamErrorInfo = {};
  if (typeof e.message === 'string') info.message = e.message;
  if (typeof e.status === 'string') info.type = e.status;
  if (e.status === 'RESOURCE_EXHAUSTED') info.code = 'rate_limit_exceeded';
  if (/input token count.*exceeds the maximum/i.test(info.message ?? '')) info.code = 'context_length_exceeded';
  for (const d of Array.isArray(e.details) ? e.details : []) {
    if (isObj(d) && String(d['@type'] ?? '').endsWith('google.rpc.RetryInfo') && typeof d.retryDelay === 'string') {
      const ms = parseDurationMs(d.retryDelay);
      if (ms !== undefined) info.retryAfterMs = ms;
    }
  }
  return info;
}
