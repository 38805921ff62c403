/**
 * The waiting helpers every part of tasklane shares: sleep with a signal, wait at most N ms, a race
 * against a deadline, and the error an abort signal stands for. Built on Node's `timers/promises`,
 * so no timer outlives the wait and a listener never stays on a signal after the wait settles.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { AbortError, TasklaneError, type ErrorCode } from '../errors.js';

export interface TimerOptions {
  /** Keep the process alive while waiting. Default false: a wait never holds the process open. */
  ref?: boolean;
}

/**
 * The reason an abort signal carries, as a TasklaneError. A TasklaneError reason is kept as it is
 * (only those with a code in `keep`, when given); anything else becomes an AbortError with the
 * reason as `cause` and its message (or the reason itself when it is a string).
 */
export function abortReason(signal: AbortSignal, keep?: readonly ErrorCode[]): TasklaneError {
  const reason: unknown = signal.reason;
  if (TasklaneError.isInstance(reason) && (!keep || keep.includes(reason.code))) return reason;
  const message = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'the operation was aborted';
  return new AbortError(message, { cause: reason });
}

/** Resolves after `ms`; rejects with abortReason(signal) as soon as the signal aborts (at once if it already did). */
export async function sleep(ms: number, signal?: AbortSignal, options: TimerOptions = { ref: true }): Promise<void> {
  if (signal?.aborted) throw abortReason(signal);
  if (ms <= 0) return;
  try {
    await delay(ms, undefined, { signal, ref: options.ref ?? true });
  } catch (err) {
    if (signal?.aborted) throw abortReason(signal);
    throw err;
  }
}

/**
 * Waits for a promise to settle, at most `ms`. Resolves true if it settled in time (fulfilled or
 * rejected: its rejection is swallowed, the caller only bounds a wait), false if it was late.
 * Never rejects; the timer is cleared as soon as the promise settles.
 */
export async function waitAtMost(promise: Promise<unknown>, ms: number, options: TimerOptions = {}): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      delay(Math.max(0, ms), false, { signal: timer.signal, ref: options.ref ?? false }),
    ]);
  } finally {
    timer.abort();
  }
}

/**
 * The promise's outcome, or a rejection with `onTimeout()` when it has not settled after `ms`.
 * The promise itself keeps running (pass it a signal to stop it); a late rejection is swallowed.
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => unknown, options: TimerOptions = {}): Promise<T> {
  const timer = new AbortController();
  const late = Symbol('late');
  promise.catch(() => {});
  try {
    const won = await Promise.race([promise, delay(Math.max(0, ms), late, { signal: timer.signal, ref: options.ref ?? false })]);
    if (won === late) throw onTimeout();
    return won as T;
  } finally {
    timer.abort();
  }
}
