import type { JobEventType } from '../jobs/types.js';

/** Event types that end a job's stream (the server's TERMINAL_EVENTS, kept here so the client imports types only). */
export function isTerminal(type: JobEventType): boolean {
  return type === 'succeeded' || type === 'dead' || type === 'cancelled';
}
