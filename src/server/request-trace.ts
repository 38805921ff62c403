/**
 * traceparent on every request (DESIGN "Traces"): the incoming one is continued, or a trace
 * starts, and the answer carries the server's own traceparent, with or without an exporter. With
 * tracing on, a SERVER span covers the request until its socket closes (SSE streams included);
 * its traceparent is what the AI call, the job and the lane task below it name as parent.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { continueTrace } from '../telemetry/traceparent.js';
import type { Tracing } from '../telemetry/tracing.js';

/**
 * A Fastify reply header, not res.setHeader(): a header set on the raw response before writeHead()
 * sends Node down its slow path for every other header of the answer. Streams that write their own
 * headers (SseWriter, after reply.hijack()) pass `req.traceparent` with them.
 */
function answerWith(reply: FastifyReply, traceparent: string): void {
  reply.header('traceparent', traceparent);
}

export function traceRequest(tracing: Tracing, req: FastifyRequest, reply: FastifyReply): void {
  const incoming = req.headers.traceparent;
  if (!tracing.enabled) {
    req.traceparent = continueTrace(incoming);
    answerWith(reply, req.traceparent);
    return;
  }
  const route = req.routeOptions.url;
  const q = req.url.indexOf('?');
  const span = tracing.start(route ? `${req.method} ${route}` : req.method, {
    kind: 'server',
    ...(typeof incoming === 'string' ? { parent: incoming } : {}),
    attributes: {
      'http.request.method': req.method,
      // The path only: a query may hold a stream token.
      'url.path': q === -1 ? req.url : req.url.slice(0, q),
      ...(route ? { 'http.route': route } : {}),
    },
  });
  req.traceparent = span.traceparent;
  answerWith(reply, span.traceparent);
  reply.raw.once('close', () => {
    const status = reply.raw.statusCode;
    span.set('http.response.status_code', status);
    if (req.principal?.name) span.set('tasklane.client', req.principal.name);
    span.end(status >= 500 ? new Error(`HTTP ${status}`) : undefined);
  });
}
