/** tasklane's public API: everything an application or example needs, nothing more. */
export * from './errors.js';
export { loadConfig, type ResolvedConfig, type ConfigInput, type LoadOptions } from './config/index.js';
export { Runtime, createRuntime } from './create-runtime.js';
export type { RuntimeOptions, CloseReport, LoopSnapshot, Logger } from './runtime/index.js';
export { buildServer, listen, type ServerContext, type ServerOptions, type RoutePlugin, type Listening } from './server/index.js';
export { Lanes, Lane, DEFAULT_LANES, type Placement, type LaneOptions, type ModuleRef, type WorkFn, type WorkContext, type ThreadHost, type RunOptions, type LaneStats } from './lanes/index.js';
export { defineResource, type ResourceDef } from './resources/index.js';
export { defineTask, Jobs, SqliteJobEngine, FINAL_STATES, TERMINAL_EVENTS, type JobState, type JobRecord, type JobEventType, type JobEvent, type EnqueueOptions, type ListQuery, type BackoffOptions, type TaskContext, type TaskDef, type JobSystem, type JobEngine, type Claim, type ClaimOptions, type FinishOutcome } from './jobs/index.js';
export { checkProviders, formatChecks, type ProviderCheck, type CheckStatus, type CheckOptions } from './cli/doctor-checks.js';
export { Orchestrator, attachAi, MemoryResponseCache, MemoryCooldownStore, type AttachAiOptions, type StreamResult, type AiHealth, type ResponseCache, type CachedAnswer, type CooldownStore, type BreakerBoard } from './ai/index.js';
export type { ChatRequest, ChatMessage, ChatCompletion, ChatChunk, ChatResult, AiMeta, AiCallOptions, AiClient, Usage, EmbeddingRequest, EmbeddingResponse, EmbeddingResult } from './ai/types.js';
export { createLanguageModel, type LanguageModelOptions } from './ai/providers/index.js';
export { PROVIDER_SPEC, type LanguageModel, type ProviderCallOptions, type EmbedCallOptions, type EmbedResult, type StreamPart, type PhaseTimeouts, type ProviderErrorDetails, type ProviderErrorKind } from './ai/provider.js';
