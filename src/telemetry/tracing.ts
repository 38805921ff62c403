/**
 * The tracing contract every subsystem sees (through Host): start a span under a parent given as
 * a W3C traceparent string, so the same value crosses worker threads, the job record and
 * processes. Off (no `telemetry.otlp.endpoint`), `enabled` is false and `start()` returns one
 * shared span that records nothing: callers check `enabled` first on hot paths, so tracing off
 * costs a property read. Types only from @opentelemetry/api; the SDK is loaded by `loadTracing()`.
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api';

export type SpanKindName = 'internal' | 'server' | 'client' | 'producer' | 'consumer';

export interface SpanStart {
  /** The parent span's traceparent; none = the root of a new trace. */
  parent?: string;
  kind?: SpanKindName;
  attributes?: Attributes;
  /** Epoch ms, when the span began before it was started (a lane task's time in the queue). */
  startTime?: number;
}

export interface TraceSpan {
  /** This span's traceparent: what its children (here, in a thread or in another process) name as parent. */
  readonly traceparent: string;
  /** Sets an attribute; undefined leaves it unset. Strings are scrubbed of every configured secret. */
  set(key: string, value: AttributeValue | undefined): void;
  event(name: string, attributes?: Attributes): void;
  /** Ends the span (once; later calls do nothing). An error sets status ERROR, `error.type` (its code) and a scrubbed message. */
  end(error?: unknown): void;
}

export interface Tracing {
  /** True when spans are exported (telemetry.otlp.endpoint is set). */
  readonly enabled: boolean;
  start(name: string, options?: SpanStart): TraceSpan;
  /** Sends what is buffered and stops the exporter (a closer of the runtime). */
  close(): Promise<void>;
}

const OFF_SPAN: TraceSpan = {
  traceparent: '',
  set() {},
  event() {},
  end() {},
};

/** Tracing off: nothing is recorded or sent. */
export const TRACING_OFF: Tracing = {
  enabled: false,
  start: () => OFF_SPAN,
  close: () => Promise.resolve(),
};

/** What `loadTracing()` returns: builds the runtime's Tracing once the kernel (scrub, log) exists. */
export type TracingFactory = (host: { scrub(text: string): string; log: { warn(obj: object, msg: string): void } }) => Tracing;
