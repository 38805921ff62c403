/**
 * The composition root: the one place that knows every subsystem. It loads what the
 * configuration asks for (the Redis engine and the fleet's shared AI state through import(), only
 * when the store is Redis), then builds the lanes, the orchestrator and the job system on the
 * runtime's kernel. Subsystems see the kernel only through the Host interface.
 */
import { loadConfig, type ResolvedConfig } from './config/index.js';
import { attachAi } from './ai/index.js';
import type { Orchestrator } from './ai/orchestrator.js';
import { checkProviders, type CheckOptions, type ProviderCheck } from './ai/provider-checks.js';
import { loadSharedAiState, type SharedAiState } from './ai/shared-state.js';
import { loadEngine, sqlitePath, type EngineFactory } from './jobs/engines/index.js';
import { Jobs } from './jobs/job-system.js';
import { Lanes } from './lanes/lanes.js';
import { RuntimeKernel, type RuntimeOptions } from './runtime/kernel.js';
import { refuseInLaneThread } from './lanes/thread-guard.js';
import { loadTracing } from './telemetry/index.js';
import type { TracingFactory } from './telemetry/tracing.js';

/** What createRuntime loaded for a configuration before building the runtime. */
export interface RuntimeParts {
  /** Builds the job engine the configuration names. */
  engine: EngineFactory;
  /** The fleet's shared AI state (Redis), if the configuration has one. */
  sharedAi?: SharedAiState;
  /** Spans: the OpenTelemetry SDK and exporter when telemetry.otlp.endpoint is set, else off. */
  tracing?: TracingFactory;
}

/**
 * The object every part of tasklane hangs off: the kernel (config, log, metrics, loop monitor,
 * start steps, closers) with its lanes, orchestrator and job system. Nothing mutable lives at
 * module level: two runtimes in one process share nothing. Build it with `createRuntime()`.
 */
export class Runtime extends RuntimeKernel {
  /** Named lanes with concurrency, queue bound, timeouts and placement (loop or threads). */
  readonly lanes: Lanes;
  /** The AI orchestrator: routes, keys, cache, attempts over every configured provider. */
  readonly ai: Orchestrator;
  /** Durable jobs: enqueue, query, cancel, retry, event streams, and the worker loop. */
  readonly jobs: Jobs;

  constructor(config: ResolvedConfig, options: RuntimeOptions, parts: RuntimeParts) {
    super(config, options, parts.tracing);
    // In dependency order: closers run in reverse, so jobs close first, then ai, then lanes.
    this.lanes = new Lanes(this, { ai: () => this.ai });
    this.ai = attachAi(this, { spendPath: sqlitePath(config), ...parts.sharedAi?.(this), lanes: this.lanes });
    this.jobs = new Jobs(this, { lanes: this.lanes, engine: parts.engine });
    this.onReload('ai', (next, previous) => this.ai.reloadKeysAndRoutes(next, previous));
  }

  /**
   * Checks every configured provider and key as `tasklane doctor` does (lists models, times it),
   * on connections of its own; a row never shows a key, only its index.
   */
  checkProviders(options: Omit<CheckOptions, 'log'> = {}): Promise<ProviderCheck[]> {
    return checkProviders(this.config, { ...options, log: this.log });
  }
}

/** Loads the configuration (unless given resolved) and builds a runtime. Call start() next. */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  refuseInLaneThread('createRuntime()');
  const config = options.resolved ?? loadConfig(options);
  const [engine, sharedAi, tracing] = await Promise.all([loadEngine(config), loadSharedAiState(config), loadTracing(config)]);
  return new Runtime(config, options, { engine, sharedAi, tracing });
}
