/**
 * `tasklane/spi`: what engine and adapter authors implement and build on. A job engine implements
 * JobEngine (src/jobs/engine.ts) and passes the conformance suite; a provider adapter implements
 * LanguageModel (src/ai/provider.ts) and is added to the provider registry. Applications use
 * `tasklane` instead. test/api-surface.test.ts pins this list.
 */
// Job engines
export type { JobEngine, Claim, ClaimOptions, FinishOutcome, EngineEnqueueOptions, PendingEvent } from './jobs/engine.js';
export { SqliteJobEngine, type SqliteEngineOptions } from './jobs/engines/sqlite/sqlite-engine.js';
export { FINAL_STATES, TERMINAL_EVENTS } from './jobs/types.js';
// Provider adapters
export { PROVIDER_SPEC } from './ai/provider.js';
export type {
  LanguageModel,
  ProviderSettings,
  ProviderCallOptions,
  EmbedCallOptions,
  EmbedResult,
  StreamPart,
  PhaseTimeouts,
  ProviderErrorDetails,
  ProviderErrorKind,
} from './ai/provider.js';
export {
  providerRegistry,
  PROVIDER_TYPES,
  createLanguageModel,
  type AdapterFactory,
  type LanguageModelOptions,
  type ProviderType,
} from './ai/providers/index.js';
// Shared state backends for the orchestrator
export {
  MemoryResponseCache,
  MemoryCooldownStore,
  type ResponseCache,
  type CachedAnswer,
  type CooldownStore,
  type BreakerBoard,
} from './ai/index.js';
// Subsystems see the runtime through this
export type { Host } from './runtime/host.js';
// Errors an engine or adapter throws, and rebuilding errors that crossed a thread or process
export {
  ProviderError,
  ClosedError,
  AbortError,
  ConfigError,
  StoreError,
  JobError,
  errorFromJSON,
  toTasklaneError,
  errorBody,
  type SerializedError,
  type TasklaneErrorOptions,
} from './errors.js';
// The configuration an engine or adapter reads
export type { ResolvedConfig } from './config/index.js';
export type { Logger } from './runtime/index.js';
