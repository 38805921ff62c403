import { aiError, type TasklaneError } from '../errors.js';
import type { DispatchContext } from './dispatch-types.js';
import type { Route } from './route.js';
import type { AiCallOptions } from './types.js';

/** A dispatch context and what ends it: dispose() clears the budget timer and the signal listener. */
export interface BudgetedContext {
  ctx: DispatchContext;
  /** Aborted by the caller, the request's budget or close(). */
  controller?: AbortController;
  dispose(): void;
}

/** The abort reason when a request's whole budget (`timeoutMs`) is spent. */
export function budgetSpent(route: Route, timeoutMs: number): TasklaneError {
  return aiError('TL_ERR_AI_TIMEOUT', `model "${route.id}": the request's ${timeoutMs} ms budget ran out`);
}

/**
 * A shared call's context (single-flight or a stream flight): the flight's signal, and when the
 * request has a budget, one controller that follows that signal and the deadline.
 */
export function flightContext(route: Route, signal: AbortSignal, options: AiCallOptions): BudgetedContext {
  const attempts: DispatchContext['attempts'] = [];
  const timeoutMs = options.timeoutMs;
  const traceparent = options.traceparent;
  if (!timeoutMs || timeoutMs <= 0)
    return { ctx: { route, signal, attempts, limits: options.timeouts, deadline: Infinity, traceparent }, dispose() {} };
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(budgetSpent(route, timeoutMs)), timeoutMs);
  return {
    ctx: { route, signal: controller.signal, attempts, limits: options.timeouts, deadline: Date.now() + timeoutMs, traceparent },
    dispose() {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * A call that shares nothing (single-flight off, embeddings): one controller follows the caller's
 * signal and the request's budget; the caller registers it so close() can abort it.
 */
export function soloContext(route: Route, options: AiCallOptions): BudgetedContext & { controller: AbortController } {
  const controller = new AbortController();
  const caller = options.signal;
  const onAbort = (): void => controller.abort(caller!.reason);
  if (caller?.aborted) onAbort();
  else caller?.addEventListener('abort', onAbort, { once: true });
  const timeoutMs = options.timeoutMs;
  const timer = timeoutMs && timeoutMs > 0 ? setTimeout(() => controller.abort(budgetSpent(route, timeoutMs)), timeoutMs) : undefined;
  return {
    ctx: {
      route,
      signal: controller.signal,
      attempts: [],
      limits: options.timeouts,
      deadline: timer ? Date.now() + timeoutMs! : Infinity,
      traceparent: options.traceparent,
    },
    controller,
    dispose() {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    },
  };
}
