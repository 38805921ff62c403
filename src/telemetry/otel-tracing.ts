/**
 * Tracing on: spans made with the OpenTelemetry SDK's tracer and sent in batches to an OTLP/HTTP
 * collector. Loaded through import() by `loadTracing()` only when telemetry.otlp.endpoint is set,
 * so a runtime without it never loads the SDK. The provider is the runtime's own, not registered
 * globally: two runtimes in one process trace apart, and an application's own SDK is left alone.
 */
import { randomUUID } from 'node:crypto';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type AttributeValue,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { TelemetryConfig } from '../config/schema.js';
import { TasklaneError } from '../errors.js';
import { formatTraceparent, parseTraceparent } from './traceparent.js';
import type { SpanKindName, SpanStart, TraceSpan, Tracing, TracingFactory } from './tracing.js';

const KINDS: Record<SpanKindName, SpanKind> = {
  internal: SpanKind.INTERNAL,
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

/** The collector's traces URL: the endpoint as given when it already ends with /v1/traces, else with it added. */
export function tracesUrl(endpoint: string): string {
  const u = new URL(endpoint);
  if (!/\/v1\/traces\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/traces`;
  return u.toString();
}

export function otelTracing(telemetry: TelemetryConfig & { otlp: { endpoint: string } }): TracingFactory {
  return (host) => {
    const { otlp } = telemetry;
    const exporter = reportingExporter(
      new OTLPTraceExporter({ url: tracesUrl(otlp.endpoint), headers: otlp.headers, timeoutMillis: otlp.timeoutMs }),
      host,
    );
    const provider = new TracerProvider({
      // One instance id per runtime, so the spans of each process of a fleet can be told apart.
      resource: defaultResource().merge(
        resourceFromAttributes({ 'service.name': telemetry.serviceName, 'service.instance.id': randomUUID(), 'process.pid': process.pid }),
      ),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter,
          scheduledDelayMillis: otlp.batchDelayMs,
          maxQueueSize: otlp.maxQueueSize,
          maxExportBatchSize: Math.min(512, otlp.maxQueueSize),
          exportTimeoutMillis: otlp.timeoutMs,
        }),
      ],
    });
    return new OtelTracing(provider.getTracer('tasklane'), provider, host.scrub);
  };
}

class OtelTracing implements Tracing {
  readonly enabled = true;
  readonly #tracer: Tracer;
  readonly #provider: TracerProvider;
  readonly #scrub: (text: string) => string;
  #closing?: Promise<void>;

  constructor(tracer: Tracer, provider: TracerProvider, scrub: (text: string) => string) {
    this.#tracer = tracer;
    this.#provider = provider;
    this.#scrub = scrub;
  }

  start(name: string, options: SpanStart = {}): TraceSpan {
    const parent = parseTraceparent(options.parent);
    const ctx = parent
      ? trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.flags, isRemote: true })
      : ROOT_CONTEXT;
    const attributes = options.attributes ? this.#clean(options.attributes) : undefined;
    const span = this.#tracer.startSpan(
      name,
      {
        kind: KINDS[options.kind ?? 'internal'],
        ...(attributes ? { attributes } : {}),
        ...(options.startTime ? { startTime: options.startTime } : {}),
      },
      ctx,
    );
    return new SdkSpan(span, this.#scrub);
  }

  close(): Promise<void> {
    this.#closing ??= this.#provider.shutdown().catch(() => {
      // The exporter reported its own failure (reportingExporter); shutting down goes on.
    });
    return this.#closing;
  }

  #clean(attributes: Attributes): Attributes {
    const out: Attributes = {};
    for (const [k, v] of Object.entries(attributes)) if (v !== undefined) out[k] = typeof v === 'string' ? this.#scrub(v) : v;
    return out;
  }
}

class SdkSpan implements TraceSpan {
  readonly traceparent: string;
  readonly #span: Span;
  readonly #scrub: (text: string) => string;
  #ended = false;

  constructor(span: Span, scrub: (text: string) => string) {
    this.#span = span;
    this.#scrub = scrub;
    const sc = span.spanContext();
    this.traceparent = formatTraceparent({ traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags });
  }

  set(key: string, value: AttributeValue | undefined): void {
    if (value === undefined || this.#ended) return;
    this.#span.setAttribute(key, typeof value === 'string' ? this.#scrub(value) : value);
  }

  event(name: string, attributes?: Attributes): void {
    if (!this.#ended) this.#span.addEvent(name, attributes);
  }

  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    if (error !== undefined) {
      // A TasklaneError, an Error, or a stored { code, message } (a job's error).
      const e = error as { code?: unknown; name?: unknown; message?: unknown };
      const code =
        TasklaneError.isInstance(error) || typeof e?.code === 'string' ? String(e.code) : error instanceof Error ? error.name : 'Error';
      const message = typeof e?.message === 'string' ? e.message : String(error);
      this.#span.setAttribute('error.type', code);
      this.#span.setStatus({ code: SpanStatusCode.ERROR, message: this.#scrub(message).slice(0, 500) });
    }
    this.#span.end();
  }
}

/** The exporter, with failures logged (at most one line a minute) instead of lost in the SDK's silent diag logger. */
function reportingExporter(inner: SpanExporter, host: Parameters<TracingFactory>[0]): SpanExporter {
  let lastReport = 0;
  let failed = 0;
  return {
    export(spans: ReadableSpan[], done) {
      inner.export(spans, (result) => {
        if (result.code !== 0) {
          failed += spans.length;
          const now = Date.now();
          if (now - lastReport > 60_000) {
            lastReport = now;
            const reason = result.error ? host.scrub(result.error.message) : 'unknown';
            host.log.warn({ spans: failed, reason }, `could not send spans to telemetry.otlp.endpoint (${reason}); they are dropped`);
            failed = 0;
          }
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    ...(inner.forceFlush ? { forceFlush: () => inner.forceFlush!() } : {}),
  };
}
