import type { Registry } from 'prom-client';
import type { ResolvedConfig } from '../config/index.js';
import type { TasklaneError } from '../errors.js';
import type { Tracing } from '../telemetry/tracing.js';
import type { Closer } from './closers.js';
import type { Logger } from './logger.js';

/**
 * What a subsystem (lanes, ai, jobs, the server) needs from the runtime that hosts it, and no
 * more: subsystems depend on this interface, never on the Runtime class, so `runtime/` imports no
 * subsystem and the wiring lives in one place (`src/create-runtime.ts`).
 */
export interface Host {
  readonly config: ResolvedConfig;
  readonly log: Logger;
  /** The Prometheus registry every subsystem registers its figures on. */
  readonly metrics: Registry;
  /** Spans (OpenTelemetry); `enabled` is false unless telemetry.otlp.endpoint is set. */
  readonly tracing: Tracing;
  /** Replaces every configured secret in a text with [redacted]. */
  scrub(text: string): string;
  /** Registers a step to run on start(), in registration order. */
  onStart(name: string, start: () => unknown | Promise<unknown>): void;
  /** Registers a closer; closers run in reverse order of registration. Returns an unregister function. */
  onClose(name: string, close: Closer): () => void;
  /** Reports a background failure without throwing. */
  reportError(err: TasklaneError): void;
  /** Throws ClosedError once close() was called; for APIs that accept new work. */
  assertOpen(what?: string): void;
}
