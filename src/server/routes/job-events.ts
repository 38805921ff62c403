import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationError, errorBody, toTasklaneError } from '../../errors.js';
import type { ServerContext } from '../context.js';
import { EventFrames } from '../event-frames.js';
import { TENANT_HEADER, viewerOf, visibleOr404 } from '../ownership.js';
import { assertJobAllowed } from '../stream-auth.js';
import { eventsQuery, jobParams, parseWith } from './job-schemas.js';

/**
 * GET /v1/jobs/:id/events: one job's events as Server-Sent Events (`id: <seq>`, `event: <type>`,
 * `data: <JobEvent JSON>`), from `Last-Event-ID` or `?from=` on, heartbeat comments in between,
 * ending after the terminal event. A slow reader is not buffered for: the stream stops pulling
 * events until the socket drains, and the hub refills it from the store afterwards.
 */
export async function jobEventRoutes(app: FastifyInstance, ctx: ServerContext, onRequest: (req: FastifyRequest) => Promise<void>, gauge: { inc(): void; dec(): void }): Promise<void> {
  const { runtime } = ctx;
  const { heartbeatMs } = runtime.config.server.streams;
  const frames = new EventFrames(runtime.scrub);
  const open = new Set<AbortController>();
  // Streams end (cleanly, so clients resume elsewhere) before the server drops connections.
  app.addHook('preClose', async () => {
    for (const c of open) c.abort();
  });

  app.get('/v1/jobs/:id/events', { config: { public: true }, onRequest }, async (req, reply) => {
    ctx.requireScope(req, 'jobs:read');
    const { id } = parseWith(jobParams, req.params, 'path');
    assertJobAllowed(req.principal, id);
    const q = parseWith(eventsQuery, req.query, 'query');
    const from = resumeFrom(req.headers['last-event-id'], q.from);
    visibleOr404(viewerOf(req.principal, req.headers[TENANT_HEADER]), id, await runtime.jobs.get(id));
    const release = ctx.streams.acquire(req.principal);
    reply.raw.once('close', release);

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': ok\n\n');
    const controller = new AbortController();
    const { signal } = controller;
    open.add(controller);
    gauge.inc();
    const onClose = (): void => controller.abort();
    res.once('close', onClose);
    const beat = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
    try {
      for await (const event of runtime.jobs.subscribe(id, from, { signal })) {
        if (!res.write(frames.sse(event))) await drained(res, signal);
        if (signal.aborted) break;
      }
    } catch (err) {
      if (!signal.aborted) {
        const e = toTasklaneError(err);
        if (e.httpStatus >= 500) runtime.log.warn({ err: e, jobId: id }, 'job event stream failed');
        const { code, message } = errorBody(e).error;
        res.write(`event: error\ndata: ${runtime.scrub(JSON.stringify({ code, message, retryable: e.retryable }))}\n\n`);
      }
    } finally {
      clearInterval(beat);
      res.removeListener('close', onClose);
      open.delete(controller);
      gauge.dec();
      if (!res.writableEnded) res.end();
    }
  });
}

/** Last-Event-ID (sent by a reconnecting EventSource) wins over ?from=. */
function resumeFrom(lastEventId: string | string[] | undefined, from: number | undefined): number {
  if (lastEventId === undefined) return from ?? 0;
  const text = Array.isArray(lastEventId) ? lastEventId[0]! : lastEventId;
  if (!/^\d{1,15}$/.test(text.trim())) throw new ValidationError(`invalid Last-Event-ID header: "${text.slice(0, 40)}" is not a sequence number (a whole number >= 0)`);
  return Number(text.trim());
}

function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.removeListener('drain', done);
      res.removeListener('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
