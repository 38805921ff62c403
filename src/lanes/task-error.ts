import { AbortError, errorFromJSON, type SerializedError, TasklaneError, workError } from '../errors.js';

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
  const wrapped = workError('TL_ERR_TASK_FAILED', message, { cause: err });
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

/**
 * The abort reasons a lane passes on as they are; any other reason (a caller's own error) becomes
 * an AbortError with it as `cause`, so a lane rejects only with its own kinds of error.
 */
export const LANE_ABORT_CODES = ['TL_ERR_ABORTED', 'TL_ERR_LANE_TIMEOUT', 'TL_ERR_RUNTIME_CLOSED'] as const;
