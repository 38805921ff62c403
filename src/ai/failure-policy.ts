import type { TasklaneError } from '../errors.js';

/**
 * The failure-class table: every way an upstream attempt can fail, and what the attempt loop does
 * about it. One table, here and in docs/ai.md (test/ai/failure-classes.test.ts drives each row).
 * Nothing else in the orchestrator decides what a failure means.
 */
export type FailureClass =
  | 'rate_limit'
  | 'auth'
  | 'forbidden'
  | 'server'
  | 'timeout-connect'
  | 'timeout-first-byte'
  | 'timeout-idle'
  | 'timeout-total'
  | 'connect'
  | 'reset'
  | 'stream_broken'
  | 'malformed'
  | 'context_length'
  | 'content_filter'
  | 'bad_request'
  | 'schema_mismatch';

export interface FailureRule {
  /** What happens to the (key, model) pair or the key. */
  effect: 'cool' | 'disable-key' | 'refuse-pair' | 'none';
  /** Retried on the same target (`retries` times) before the next target. */
  retrySame: 'yes' | 'if-retryOnTimeout' | 'no';
  /** Moves to the next target: always, only to a larger contextWindow, or only when the route's `fallbackOn` names the class. */
  next: 'yes' | 'larger-context' | 'if-fallbackOn';
  /** Counts toward the target's circuit breaker. */
  breaker: boolean;
  /** When no target is left after it, the caller gets this failure itself (not "all failed"). */
  finalIfLast?: boolean;
}

export const FAILURE_TABLE: Readonly<Record<FailureClass, FailureRule>> = Object.freeze({
  rate_limit: { effect: 'cool', retrySame: 'no', next: 'yes', breaker: false },
  auth: { effect: 'disable-key', retrySame: 'no', next: 'yes', breaker: false },
  forbidden: { effect: 'refuse-pair', retrySame: 'no', next: 'yes', breaker: false },
  server: { effect: 'none', retrySame: 'yes', next: 'yes', breaker: true },
  'timeout-connect': { effect: 'none', retrySame: 'if-retryOnTimeout', next: 'yes', breaker: true },
  'timeout-first-byte': { effect: 'none', retrySame: 'if-retryOnTimeout', next: 'yes', breaker: true },
  'timeout-idle': { effect: 'none', retrySame: 'if-retryOnTimeout', next: 'yes', breaker: true },
  'timeout-total': { effect: 'none', retrySame: 'if-retryOnTimeout', next: 'yes', breaker: true },
  connect: { effect: 'none', retrySame: 'yes', next: 'yes', breaker: true },
  reset: { effect: 'none', retrySame: 'yes', next: 'yes', breaker: true },
  stream_broken: { effect: 'none', retrySame: 'yes', next: 'yes', breaker: true },
  malformed: { effect: 'none', retrySame: 'yes', next: 'yes', breaker: true },
  context_length: { effect: 'none', retrySame: 'no', next: 'larger-context', breaker: false },
  content_filter: { effect: 'none', retrySame: 'no', next: 'if-fallbackOn', breaker: false },
  bad_request: { effect: 'none', retrySame: 'no', next: 'if-fallbackOn', breaker: false },
  schema_mismatch: { effect: 'none', retrySame: 'no', next: 'yes', breaker: false, finalIfLast: true },
});

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const TIMEOUT_CLASS: Record<string, FailureClass> = {
  connect: 'timeout-connect',
  first_byte: 'timeout-first-byte',
  idle: 'timeout-idle',
  total: 'timeout-total',
};

/** The class of a classified provider error (`details.kind` set), or undefined for an abort. */
export function failureClass(err: TasklaneError): FailureClass | undefined {
  const d = err.details;
  const kind = String(d.kind ?? 'server');
  switch (kind) {
    case 'aborted':
      return undefined;
    case 'auth':
      return d.status === 403 ? 'forbidden' : 'auth';
    case 'forbidden':
      return 'forbidden';
    case 'timeout':
      return TIMEOUT_CLASS[String(d.phase ?? 'total')] ?? 'timeout-total';
    case 'connect':
      return typeof d.network === 'string' && RESET_CODES.has(d.network) ? 'reset' : 'connect';
    case 'rate_limit':
    case 'server':
    case 'stream_broken':
    case 'malformed':
    case 'context_length':
    case 'content_filter':
    case 'bad_request':
    case 'schema_mismatch':
      return kind;
    default:
      return 'server';
  }
}
