/**
 * Keeps a task module's top level from starting a second runtime inside a lane worker thread.
 *
 * A thread lane finds a task by importing the task's module, which runs that module's top level.
 * When the module also calls createRuntime() or listen() (the README's one-file example did),
 * every thread would start a runtime, an HTTP server and a job worker of its own. The worker entry
 * marks its thread here; createRuntime() and listen() check the mark and refuse, and the worker
 * entry fails the attempt with that error.
 *
 * The mark lives on globalThis under a Symbol.for key, so that it is seen by every copy of
 * tasklane a thread may load (the user's `tasklane` import and the worker entry can be two).
 */
import { isMainThread } from 'node:worker_threads';
import { type TasklaneError, workError } from '../errors.js';

const MARK = Symbol.for('tasklane.laneThread');

/** The key of the lane's name in a lane worker's `workerData`. */
export const LANE_WORKER_DATA = 'tasklane.lane';

export interface LaneThreadMark {
  lane: string;
  /** The module being imported right now, and the task looked for in it when known. */
  loading?: { module: string; task?: string };
  /** The first refusal seen while loading (the module may have swallowed the throw). */
  refused?: TasklaneError;
}

/** Called once by the worker entry in each lane thread. */
export function markLaneThread(lane: string): LaneThreadMark {
  const mark: LaneThreadMark = { lane };
  (globalThis as Record<symbol, unknown>)[MARK] = mark;
  return mark;
}

function laneThread(): LaneThreadMark | undefined {
  if (isMainThread) return undefined;
  return (globalThis as Record<symbol, LaneThreadMark | undefined>)[MARK];
}

/** Throws TL_ERR_TASK_MODULE_SIDE_EFFECT when called inside a lane worker thread. */
export function refuseInLaneThread(what: 'createRuntime()' | 'listen()'): void {
  const mark = laneThread();
  if (!mark) return;
  const loading = mark.loading;
  const found = loading
    ? `${loading.module} is imported by thread lane "${mark.lane}" to find task ${loading.task ? `"${loading.task}"` : 'its task'}`
    : `this code runs in a worker thread of lane "${mark.lane}"`;
  const err = workError(
    'TL_ERR_TASK_MODULE_SIDE_EFFECT',
    `${what} refused: ${found}; move createRuntime()/listen() out of the task's module (put tasks in a module of their own) or guard them with \`if (isMainThread)\` from node:worker_threads`,
    { details: { lane: mark.lane, ...(loading?.task ? { task: loading.task } : {}), ...(loading ? { module: loading.module } : {}) } },
  );
  mark.refused ??= err;
  throw err;
}
