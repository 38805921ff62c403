/**
 * The lanes contract: what a lane is, what work it runs and the context that work gets. Types only.
 */
import type { AiClient, ChatRequest, ChatResult } from '../ai/types.js';
import type { ResourceDef } from '../resources/resource.js';
import type { ResourceScope } from '../resources/scope.js';
import type { Tracing } from '../telemetry/tracing.js';

/** 'loop' runs work on the event loop (I/O-bound); 'thread' runs it in worker threads (blocking or CPU-bound). */
export type Placement = 'loop' | 'thread';

export interface LaneOptions {
  /** Lane name, as used in `lanes.run(name, ...)` and in metrics labels. */
  name: string;
  placement: Placement;
  /** Most tasks running at once. Minimum 1. For a thread lane this is also the number of threads. */
  concurrency: number;
  /** Most tasks waiting for a slot; one more is rejected with LaneFullError. 0 = none may wait. */
  maxQueue: number;
  /** Longest run, in ms, from the moment the task leaves the queue. Queue time does not count. */
  timeoutMs: number;
  /** Longest wait in the queue, in ms (LaneTimeoutError phase 'queued'). Default: timeoutMs. */
  queueTimeoutMs?: number;
  /** Heap limit of each worker thread, in MiB (thread lanes only). Default: Node's own limit. */
  maxOldGenerationSizeMb?: number;
}

/**
 * Work for a thread lane: a module file (absolute path, path relative to the working directory,
 * or file: URL) and an export name (default 'default'). Loop lanes accept the same ref (imported
 * on the main thread) or a plain function.
 */
export interface ModuleRef {
  module: string;
  export?: string;
}

export type WorkFn<I = unknown, O = unknown> = (input: I, ctx: WorkContext) => O | Promise<O>;

/** What work receives as its second argument; the same shape on the loop and in a thread. */
export interface WorkContext {
  /** Aborted on cancel or timeout (reason: AbortError or LaneTimeoutError). In a thread it arrives as a port message first. */
  signal: AbortSignal;
  /** Forwarded to RunOptions.host.progress on the main thread, in call order, before the run settles. */
  progress(data: unknown): void;
  /** Forwarded to host.log, or to the runtime logger with the lane name and context fields. */
  log(msg: string, data?: Record<string, unknown>): void;
  /** The runtime's AI client; in a thread calls go over a port to the main thread. `generateSync` exists only in threads. */
  ai: AiClient & { generateSync?(req: ChatRequest): ChatResult };
  /** A per-thread resource (created once per thread, or once on the main thread for loop work). */
  resource<T>(nameOrDef: string | ResourceDef<T>): Promise<T>;
  /** RunOptions.context fields (e.g. jobId, attempt) are copied in. */
  [extra: string]: unknown;
}

/** Receives what a task reports while it runs (on the main thread). */
export interface ThreadHost {
  progress?(data: unknown): void;
  log?(msg: string, data?: Record<string, unknown>): void;
  /** Serves a thread task's ctx.ai calls instead of the runtime's client (a workflow step journals them). */
  ai?: AiClient;
}

export interface RunOptions {
  /** Cancels the task: while queued it is removed, while running its ctx.signal aborts. */
  signal?: AbortSignal;
  /** Overrides the lane's timeoutMs for this run, in ms. */
  timeoutMs?: number;
  host?: ThreadHost;
  /**
   * After the signal aborts, how long a running thread task may take to stop before its thread is
   * terminated, in ms. Default 0 (terminate at once). Lane timeouts always terminate at once.
   * The run rejects once the task has stopped, so its slot is never shared.
   */
  abortGraceMs?: number;
  /** Extra fields copied into the WorkContext (structured-clonable for thread lanes). */
  context?: Record<string, unknown>;
  /** W3C traceparent of the span this task belongs under (with tracing on, the task gets a span of its own). */
  traceparent?: string;
}

/** Figures for one lane. Times are in ms; percentiles cover every task since the lane opened. */
export interface LaneStats {
  placement: Placement;
  concurrency: number;
  maxQueue: number;
  active: number;
  queued: number;
  /** Worker threads alive (thread lanes; 0 for loop lanes and before first use). */
  threads: number;
  completed: number;
  failed: number;
  timedOut: number;
  aborted: number;
  rejected: number;
  waitMs: { p50: number; p90: number; p99: number; max: number };
  runMs: { p50: number; p90: number; p99: number; max: number };
}

/** What a lane needs from the lanes that own it (Lanes builds one for all its lanes). */
export interface LaneEnv {
  ai(): AiClient;
  /** Main-thread resources, for loop work. */
  resources: ResourceScope;
  reportError(err: unknown, what: string): void;
  tracing: Tracing;
  log(lane: string, msg: string, data: Record<string, unknown> | undefined, context: Record<string, unknown> | undefined): void;
}
