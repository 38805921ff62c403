/**
 * tasklane's public API: what an application uses. Engine and adapter authors import
 * `tasklane/spi` (src/spi.ts); everything else is internal and may move. test/api-surface.test.ts
 * pins both lists: a name added here is a decision, not a side effect.
 */
export { createRuntime, Runtime } from './create-runtime.js';
export { buildServer, listen } from './server/index.js';
export { defineTask } from './jobs/task.js';
export { defineResource } from './resources/index.js';
export { loadConfig } from './config/index.js';
export {
  errorCodes,
  TasklaneError,
  ConfigError,
  ClosedError,
  LaneFullError,
  LaneTimeoutError,
  AbortError,
  ValidationError,
  NotFoundError,
  NonRetryableError,
  ProviderError,
  AllTargetsFailedError,
} from './errors.js';

export type { ErrorCode } from './errors.js';
export type { ConfigInput } from './config/index.js';
export type { RuntimeOptions } from './runtime/index.js';
export type { ServerContext, RoutePlugin, Listening } from './server/index.js';
export type { LaneOptions, ModuleRef, WorkContext } from './lanes/types.js';
export type { ResourceDef } from './resources/index.js';
export type { TaskDef, TaskContext, JobState, JobRecord, JobEvent, EnqueueOptions } from './jobs/types.js';
export type { ChatRequest, ChatCompletion, ChatResult, AiMeta, EmbeddingRequest, EmbeddingResult } from './ai/types.js';
export type { ProviderCheck } from './ai/provider-checks.js';
