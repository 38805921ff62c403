import { TasklaneError, errorBody, toTasklaneError } from '../../errors.js';

/**
 * The one place an error becomes bytes on the wire, for HTTP bodies, SSE error frames and
 * WebSocket messages alike. Each shape is what that dialect's clients parse (DESIGN.md, "Errors on
 * the wire"); every message goes through the secret scrubber; Retry-After follows one rule.
 *
 * - `tasklane` (jobs, admin, every framework error): `{error:{code,message}}`
 * - `openai` (chat completions, models): `{error:{message,type,code}}`, the TL_ERR_* code in `code`
 * - `anthropic` (/v1/messages): `{type:"error",error:{type,message,code}}`
 */
export type Dialect = 'tasklane' | 'openai' | 'anthropic';

export type Scrub = (text: string) => string;

export interface WireError {
  status: number;
  /** Headers to set with the answer (Retry-After when there is one). */
  headers: Record<string, string>;
  body: Record<string, unknown>;
  /** The typed error the body was made from (for logging). */
  error: TasklaneError;
}

const OPENAI_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'invalid_request_error',
  414: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  431: 'invalid_request_error',
};

/** Anthropic's error types by HTTP status. */
export function anthropicErrorType(status: number): string {
  if (status === 400 || status === 422) return 'invalid_request_error';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503 || status === 529) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

function typeFor(table: Record<number, string>, status: number): string {
  if (Object.hasOwn(table, status)) return table[status]!;
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}

/**
 * Seconds a client should wait before trying again, or undefined when waiting does not help.
 * A 429 or 503 that knows its wait says it; store faults and local limits say 1 s by default.
 */
export function retryAfterSeconds(err: TasklaneError): number | undefined {
  const ms = err.details.retryAfterMs;
  if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 && (err.httpStatus === 429 || err.httpStatus === 503)) {
    return Math.max(1, Math.ceil(ms / 1000));
  }
  if (err.code.startsWith('TL_ERR_STORE_') || err.code === 'TL_ERR_RATE_LIMITED' || err.code === 'TL_ERR_LANE_FULL') return 1;
  return undefined;
}

/** The scrubbed `{code, message}` of an error, plus its safe details. */
function parts(err: TasklaneError, scrub: Scrub): { code: string; message: string; details?: Record<string, unknown> } {
  const { error } = errorBody(err);
  const out: { code: string; message: string; details?: Record<string, unknown> } = { code: error.code, message: scrub(error.message) };
  if (error.details) out.details = scrubValue(error.details, scrub, 0) as Record<string, unknown>;
  return out;
}

function scrubValue(value: unknown, scrub: Scrub, depth: number): unknown {
  if (typeof value === 'string') return scrub(value);
  if (typeof value !== 'object' || value === null || depth > 6) return value;
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, scrub, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubValue(v, scrub, depth + 1);
  return out;
}

/** The HTTP answer for anything thrown. */
export function toWire(thrown: unknown, options: { dialect?: Dialect; scrub: Scrub }): WireError {
  const err = toTasklaneError(thrown);
  const status = err.httpStatus >= 400 && err.httpStatus <= 599 ? err.httpStatus : 500;
  const headers: Record<string, string> = {};
  const wait = retryAfterSeconds(err);
  if (wait !== undefined) headers['retry-after'] = String(wait);
  // An AI failure says how many upstream attempts it made and how long it waited, as an answer does.
  if (Array.isArray(err.details.attempts)) headers['x-tasklane-attempts'] = String(err.details.attempts.length);
  if (typeof err.details.waitedMs === 'number' && err.details.waitedMs > 0) headers['x-tasklane-waited-ms'] = String(err.details.waitedMs);
  const p = parts(err, options.scrub);
  let body: Record<string, unknown>;
  switch (options.dialect ?? 'tasklane') {
    case 'openai':
      body = { error: { ...p, type: typeFor(OPENAI_TYPES, status) } };
      break;
    case 'anthropic':
      body = { type: 'error', error: { type: anthropicErrorType(status), message: p.message, code: p.code } };
      break;
    default:
      body = { error: p };
  }
  return { status, headers, body, error: err };
}

/**
 * The last frame of a stream that failed after its headers were sent: job event streams send
 * `event: error` with `{code,message,retryable}`; an OpenAI stream sends the in-band error as a
 * `data:` line (and no [DONE] after it).
 */
export function sseErrorFrame(thrown: unknown, options: { dialect?: Dialect; scrub: Scrub }): string {
  const err = toTasklaneError(thrown);
  const p = parts(err, options.scrub);
  switch (options.dialect ?? 'tasklane') {
    case 'openai':
      return `data: ${JSON.stringify({ error: { code: p.code, message: p.message, type: typeFor(OPENAI_TYPES, err.httpStatus) } })}\n\n`;
    case 'anthropic':
      return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: anthropicErrorType(err.httpStatus), message: p.message, code: p.code } })}\n\n`;
    default:
      return `event: error\ndata: ${JSON.stringify({ code: p.code, message: p.message, retryable: err.retryable })}\n\n`;
  }
}

/** A WebSocket error message: `{type:'error', jobId?, error:{code,message,retryable}}`. */
export function socketErrorMessage(thrown: unknown, scrub: Scrub, jobId?: string): Record<string, unknown> {
  const err = toTasklaneError(thrown);
  const p = parts(err, scrub);
  return {
    type: 'error',
    ...(jobId === undefined ? {} : { jobId }),
    error: { code: p.code, message: p.message, retryable: err.retryable },
  };
}

/** A WebSocket close reason: at most 123 bytes of UTF-8 (RFC 6455 §5.5), scrubbed. */
export function closeReason(text: string, scrub: Scrub): string {
  let reason = scrub(text);
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
  return reason;
}
