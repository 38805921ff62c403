import { AbortError, TasklaneError, errorFromJSON, type SerializedError } from '../errors.js';

/**
 * What a task threw, as a TasklaneError: tasklane errors pass through, abort errors become
 * AbortError, anything else becomes TL_ERR_TASK_FAILED keeping the original name and message
 * (and the original as `cause`, where it still exists).
 */
export function taskError(err: unknown): TasklaneError {
  if (TasklaneError.isInstance(err)) return err;
  if (err instanceof Error && err.name === 'AbortError') return new AbortError(err.message, { cause: err });
  const name = err instanceof Error ? err.name : 'Error';
  const message = err instanceof Error ? err.message : `non-error thrown: ${String(err)}`;
  const wrapped = new TasklaneError('TL_ERR_TASK_FAILED', message, { cause: err });
  if (name !== 'Error') Object.defineProperty(wrapped, 'name', { value: name, enumerable: false, configurable: true, writable: true });
  return wrapped;
}

/** Serializes what a task threw so that it can cross a thread (rebuilt with errorFromJSON). */
export function serializeTaskError(err: unknown): SerializedError & { stack?: string } {
  const json: SerializedError & { stack?: string } = taskError(err).toJSON();
  // Keep where it failed (never in details: those reach HTTP answers).
  if (err instanceof Error && err.stack) json.stack = err.stack;
  return json;
}

/** Rebuilds an error serialized by serializeTaskError on the other side of a port. */
export function rebuildError(json: SerializedError & { stack?: string }): TasklaneError {
  const err = errorFromJSON(json);
  if (typeof json.stack === 'string') err.stack = json.stack;
  return err;
}

/** The reason an abort signal carries, as a TasklaneError (AbortError unless it already is one of ours). */
export function abortReason(signal: AbortSignal): TasklaneError {
  const reason: unknown = signal.reason;
  if (TasklaneError.isInstance(reason) && (reason.code === 'TL_ERR_ABORTED' || reason.code === 'TL_ERR_LANE_TIMEOUT' || reason.code === 'TL_ERR_RUNTIME_CLOSED')) return reason;
  const message = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'the operation was aborted';
  return new AbortError(message, { cause: reason });
}
