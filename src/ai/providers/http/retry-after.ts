/**
 * How long an upstream asks us to wait, from its response headers. Reads every form providers
 * use — `retry-after` (seconds or an HTTP date), `retry-after-ms`, and OpenAI/Groq's
 * `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens` durations ("1s", "6m0s", "250ms",
 * "1h2m3.5s") — and returns the largest, in ms. Undefined when none is present or readable.
 */
export type HeaderBag = Record<string, string | string[] | undefined>;

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

function first(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined ? undefined : s.trim();
}

/** "6m0s", "1.5s", "250ms", "2h" → ms; a bare number is seconds. */
export function parseDurationMs(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1_000;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? total : undefined;
}

/** `retry-after`: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfterHeader(text: string, now: number): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1_000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function parseRetryAfterMs(headers: HeaderBag, now = Date.now()): number | undefined {
  const found: number[] = [];
  const ra = first(headers['retry-after']);
  if (ra) {
    const ms = parseRetryAfterHeader(ra, now);
    if (ms !== undefined) found.push(ms);
  }
  const raMs = first(headers['retry-after-ms']);
  if (raMs && /^\d+(\.\d+)?$/.test(raMs)) found.push(Number(raMs));
  for (const name of ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens']) {
    const v = first(headers[name]);
    const ms = v ? parseDurationMs(v) : undefined;
    if (ms !== undefined) found.push(ms);
  }
  return found.length > 0 ? Math.ceil(Math.max(...found)) : undefined;
}
