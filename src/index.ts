/**
 * tasklane's public API: what an application uses. Engine and adapter authors import
 * `tasklane/spi` (src/spi.ts); everything else is internal and may move. test/api-surface.test.ts
 * pins both lists: a name added here is a decision, not a side effect.
 */
export { createRuntime } from './create-runtime.js';
export { buildServer, listen } from './server/index.js';
export { defineTask } from './jobs/task.js';
export { defineResource } from './resources/index.js';
export { loadConfig } from './config/index.js';
// Errors: one class with a stable `code` (errorCodes lists them all, with status and retryable);
// the three an application throws itself have a class of their own. Every other failure is told
// apart by its code (`err.code === 'TL_ERR_LANE_TIMEOUT'`), never by a class.
export { errorCodes, TasklaneError, ValidationError, NotFoundError, NonRetryableError } from './errors.js';

export type { Runtime } from './create-runtime.js';
export type { ErrorCode } from './errors.js';
export type { ConfigInput } from './config/index.js';
export type { RuntimeOptions } from './runtime/index.js';
export type { ServerContext, RoutePlugin } from './server/index.js';
export type { WorkContext } from './lanes/types.js';
export type { TaskDef, TaskContext, JobState, JobRecord, JobEvent } from './jobs/types.js';
export type { ChatRequest, ChatResult, AiMeta } from './ai/types.js';
