import { aiError, AllTargetsFailedError, ProviderError, TasklaneError, toTasklaneError } from '../errors.js';
import { abortReason } from '../util/async.js';
import type { DispatchContext } from './dispatch-types.js';

/**
 * The errors an attempt loop ends with. Each carries the route, the attempts made (never a key)
 * and the time spent waiting out cooldowns, so a caller and the request log can say what happened.
 */

export const waited = (ctx: DispatchContext): { waitedMs?: number } => (ctx.waitedMs ? { waitedMs: ctx.waitedMs } : {});

/** The caller left, the runtime closed, or the request's budget ran out (then a 504 with the attempts). */
export function abortedError(ctx: DispatchContext): TasklaneError {
  const reason = toTasklaneError(abortReason(ctx.signal));
  if (TasklaneError.isInstance(reason) && reason.code === 'TL_ERR_AI_TIMEOUT') {
    return new AllTargetsFailedError('TL_ERR_AI_TIMEOUT', `${reason.message} after ${ctx.attempts.length} attempt(s)`, {
      details: { route: ctx.route.id, reason: 'deadlineExceeded', attempts: ctx.attempts, ...waited(ctx) },
    });
  }
  return reason;
}

/** A timeout that was the request's own budget, not the target's silence. */
export function budgetRanOut(ctx: DispatchContext): AllTargetsFailedError {
  return new AllTargetsFailedError(
    'TL_ERR_AI_TIMEOUT',
    `model "${ctx.route.id}": the request's budget ran out after ${ctx.attempts.length} attempt(s)`,
    { details: { route: ctx.route.id, reason: 'deadlineExceeded', attempts: ctx.attempts, ...waited(ctx) } },
  );
}

export function allFailedError(
  ctx: DispatchContext,
  reason: 'maxAttemptsExceeded' | 'noHealthyTarget',
  openUntil = 0,
): AllTargetsFailedError {
  const n = ctx.attempts.length;
  const tried = ctx.attempts.map((a) => `${a.provider}/${a.model} key ${a.keyIndex}: ${a.status ?? a.kind ?? a.code}`).join('; ');
  const why =
    reason === 'maxAttemptsExceeded'
      ? `gave up after ${n} attempt(s) (maxAttempts ${ctx.route.maxAttempts})`
      : n > 0
        ? `no target is left to try after ${n} attempt(s)`
        : 'no healthy target is left (breakers open or keys disabled)';
  const details: Record<string, unknown> = { route: ctx.route.id, reason, attempts: ctx.attempts, ...waited(ctx) };
  if (openUntil > 0) details.retryAfterMs = Math.max(1, openUntil - Date.now());
  return new AllTargetsFailedError('TL_ERR_AI_ALL_FAILED', `model "${ctx.route.id}": ${why}${tried ? `: ${tried}` : ''}`, {
    details,
    ...(reason === 'noHealthyTarget' && n === 0 ? { httpStatus: 503 } : {}),
  });
}

export function rateLimitedError(ctx: DispatchContext, until: number): TasklaneError {
  const retryAfterMs = Math.max(1, until - Date.now());
  return aiError(
    'TL_ERR_AI_RATE_LIMITED',
    `model "${ctx.route.id}": every target that could serve is cooling down (rate limited); retry in ${retryAfterMs} ms`,
    { details: { route: ctx.route.id, retryAfterMs, attempts: ctx.attempts, ...waited(ctx) } },
  );
}

/** Every key left was refused for this model (403): the provider's reason, without a new call. */
export function refusedError(ctx: DispatchContext, r: { message: string; until: number }): TasklaneError {
  return new ProviderError('TL_ERR_AI_REFUSED', r.message, {
    httpStatus: 403,
    retryable: false,
    details: { route: ctx.route.id, reason: 'refused', refusedUntil: r.until, attempts: ctx.attempts, ...waited(ctx) },
  });
}

/** A failure no other key or target can fix: the provider's own error, with the attempts. */
export function finalError(ctx: DispatchContext, err: TasklaneError): TasklaneError {
  return new ProviderError(err.code, err.message, {
    cause: err,
    httpStatus: err.httpStatus,
    retryable: false,
    details: { ...err.details, route: ctx.route.id, reason: 'errorNotRetryable', attempts: ctx.attempts, ...waited(ctx) },
  });
}

/** Turns what an attempt threw into a classified provider error; rethrows what is not the provider's. */
export function classifyThrown(thrown: unknown, signal: AbortSignal): TasklaneError {
  if (TasklaneError.isInstance(thrown)) {
    if (thrown.details.kind !== undefined) return thrown;
    if (thrown.code === 'TL_ERR_ABORTED' || signal.aborted)
      return new ProviderError('TL_ERR_ABORTED', thrown.message, { cause: thrown, details: { kind: 'aborted' } });
    // Lane full or closed: not the provider's fault and no other target helps.
    throw thrown;
  }
  if (signal.aborted) return new ProviderError('TL_ERR_ABORTED', 'aborted', { cause: thrown, details: { kind: 'aborted' } });
  const e = toTasklaneError(thrown, 'TL_ERR_AI_PROVIDER');
  return new ProviderError('TL_ERR_AI_PROVIDER', e.message, { cause: thrown, details: { kind: 'server' } });
}
