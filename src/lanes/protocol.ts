/**
 * Messages between the main thread and a lane's worker threads. Each worker opens one
 * MessageChannel of its own at start ("hello" over Piscina's parentPort) and every per-task
 * message after that goes over it, tagged with the task id. One channel per thread, not per task,
 * keeps the per-task cost close to raw Piscina.
 */
import type { SerializedError } from '../errors.js';
import type { MessagePort } from 'node:worker_threads';

/** Tag on the hello message, so a pool tells ours apart from other worker messages. */
export const HELLO = 'tasklane.hello';

export interface Hello {
  [HELLO]: true;
  threadId: number;
  port: MessagePort;
  /** Int32Array(1) over a SharedArrayBuffer: the main thread sets it to 1 and notifies when a sync answer is posted. */
  syncFlag: Int32Array;
}

/** What Piscina carries for each task. */
export interface TaskEnvelope {
  id: number;
  /** file: URL of the task module. */
  module: string;
  /** Export name; absent = 'default'. */
  export?: string;
  input: unknown;
  context?: Record<string, unknown>;
}

/** What the worker returns for each task; `sent` = messages posted on the thread port for this task. */
export type TaskOutcome = { ok: true; value: unknown; sent: number } | { ok: false; error: SerializedError; sent: number };

export type WorkerToMain =
  | { t: 'progress'; id: number; data: unknown }
  | { t: 'log'; id: number; msg: string; data?: Record<string, unknown> }
  /** `op` 'embed' asks for embeddings; absent = chat. */
  | { t: 'ai'; id: number; call: number; req: unknown; opts?: { noCache?: boolean; cacheable?: boolean }; sync?: boolean; op?: 'embed' }
  | { t: 'ai-abort'; id: number; call: number }
  | { t: 'closed'; threadId: number; failures: Array<{ name: string; error: string }> };

export type MainToWorker =
  | { t: 'abort'; id: number; reason: SerializedError }
  | { t: 'ai-result'; call: number; ok: true; value: unknown }
  | { t: 'ai-result'; call: number; ok: false; error: SerializedError }
  | { t: 'close' };
