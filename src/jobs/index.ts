export { defineTask, isTask, backoffDelay } from './task.js';
export { Jobs, type JobsOptions } from './job-system.js';
export { SqliteJobEngine, type SqliteEngineOptions } from './engines/sqlite/sqlite-engine.js';
export { FINAL_STATES, TERMINAL_EVENTS } from './types.js';
export type {
  JobState,
  JobRecord,
  JobEventType,
  JobEvent,
  EnqueueOptions,
  ListQuery,
  BackoffOptions,
  TaskContext,
  TaskDef,
  JobSystem,
} from './types.js';
export type { JobEngine, Claim, ClaimOptions, FinishOutcome, EngineEnqueueOptions, PendingEvent } from './engine.js';
