/**
 * Traces: the Tracing contract, traceparent helpers, and `loadTracing()`, which loads the
 * OpenTelemetry SDK and OTLP exporter through import() only when telemetry.otlp.endpoint is set.
 */
import type { TelemetryConfig } from '../config/schema.js';
import { TRACING_OFF, type TracingFactory } from './tracing.js';

export { continueTrace, formatTraceparent, parseTraceparent } from './traceparent.js';
export { TRACING_OFF, type SpanStart, type TraceSpan, type Tracing, type TracingFactory } from './tracing.js';
export { GENAI } from './genai.js';

export async function loadTracing(config: { telemetry: TelemetryConfig }): Promise<TracingFactory> {
  const { telemetry } = config;
  const endpoint = telemetry.otlp.endpoint;
  if (endpoint === undefined) return () => TRACING_OFF;
  const { otelTracing } = await import('./otel-tracing.js');
  return otelTracing({ ...telemetry, otlp: { ...telemetry.otlp, endpoint } });
}
