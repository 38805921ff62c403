import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authError, type TasklaneError, toTasklaneError, ValidationError } from '../../errors.js';
import type { ServerContext } from '../context.js';
import { EventFrames } from '../event-frames.js';
import { TENANT_HEADER, viewerOf, visibleOr404 } from '../ownership.js';
import { assertJobAllowed, onExpiry } from '../stream-auth.js';
import { SseWriter } from '../streams/sse-writer.js';
import { parseWith } from '../parse-with.js';
import { eventsQuery, jobParams } from './job-schemas.js';

/**
 * GET /v1/jobs/:id/events: one job's events as Server-Sent Events (`id: <seq>`, `event: <type>`,
 * `data: <JobEvent JSON>`), from `Last-Event-ID` or `?from=` on, heartbeat comments in between,
 * ending after the terminal event. A slow reader is not buffered for: the stream stops pulling
 * events until the socket drains, and the hub refills it from the store afterwards. A stream
 * opened with a token ends with an `error` event (TL_ERR_AUTH_TOKEN_EXPIRED) when the token expires.
 */
export async function jobEventRoutes(
  app: FastifyInstance,
  ctx: ServerContext,
  onRequest: (req: FastifyRequest) => Promise<void>,
  gauge: { inc(): void; dec(): void },
): Promise<void> {
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
    const sse = new SseWriter(reply.raw, { heartbeatMs, preamble: 'ok', headers: { traceparent: req.traceparent } });
    const controller = new AbortController();
    const { signal } = controller;
    open.add(controller);
    gauge.inc();
    const onClose = (): void => controller.abort();
    reply.raw.once('close', onClose);
    let failure: TasklaneError | undefined;
    const stopExpiry = onExpiry(req.principal, () => {
      failure = authError(
        'TL_ERR_AUTH_TOKEN_EXPIRED',
        'the stream token has expired: mint a new one with POST /v1/tokens and resume from the last id you saw',
      );
      controller.abort();
    });
    // A reload that revokes this stream's key ends it, with the reason as its last frame.
    const unhold = ctx.keyring.hold(req.principal, (reason) => {
      failure = reason;
      controller.abort();
    });
    try {
      for await (const event of runtime.jobs.subscribe(id, from, { signal })) {
        await sse.send(frames.sse(event), signal);
        if (signal.aborted) break;
      }
    } catch (err) {
      if (!signal.aborted) {
        failure = toTasklaneError(err);
        if (failure.httpStatus >= 500) runtime.log.warn({ err: failure, jobId: id }, 'job event stream failed');
      }
    } finally {
      stopExpiry();
      unhold();
      reply.raw.removeListener('close', onClose);
      open.delete(controller);
      gauge.dec();
      if (failure) sse.fail(failure, { scrub: runtime.scrub });
      else sse.end();
    }
  });
}

/** Last-Event-ID (sent by a reconnecting EventSource) wins over ?from=. */
function resumeFrom(lastEventId: string | string[] | undefined, from: number | undefined): number {
  if (lastEventId === undefined) return from ?? 0;
  const text = Array.isArray(lastEventId) ? lastEventId[0]! : lastEventId;
  if (!/^\d{1,15}$/.test(text.trim()))
    throw new ValidationError(
      `invalid Last-Event-ID header: "${text.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')}" is not a sequence number (a whole number >= 0)`,
    );
  return Number(text.trim());
}
