import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { Counter, Histogram } from 'prom-client';
import { TasklaneError, errorBody, toTasklaneError } from '../errors.js';
import type { Runtime } from '../create-runtime.js';
import { Tally } from '../runtime/metrics.js';
import { createAuthenticator, requireScope, type Principal, type Scope } from './auth.js';
import { RateLimiter, parseJsonBounded } from './limits.js';
import { StreamSlots } from './stream-slots.js';
import type { ReadinessCheck, RoutePlugin, ServerContext, ServerOptions } from './context.js';
import { healthRoutes } from './routes/health.js';
import { aiRoutes } from './routes/ai.js';
import { embeddingsRoutes } from './routes/embeddings.js';
import { messagesRoutes } from './routes/messages.js';
import { responsesRoutes } from './routes/responses.js';
import { dashboardRoutes } from './dashboard/index.js';
import { jobsRoutes } from './routes/jobs.js';

/**
 * Builds the Fastify app for a runtime. The app registers its own closer on the runtime, so
 * runtime.close() closes the server first (closers run in reverse order).
 */
export async function buildServer(runtime: Runtime, options: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: runtime.config.server.bodyLimitBytes,
    // Keep-alive sockets would hold close() open; they are closed with the server.
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  const authenticate = createAuthenticator(runtime.config.server.apiKeys);
  const rate = runtime.config.server.rateLimit;
  const limiter = rate ? new RateLimiter(rate.perSecond, rate.burst) : undefined;
  const ctx: ServerContext = {
    runtime,
    readiness: new Map(),
    requireScope: (req, scope) => requireScope(req.principal, scope),
    streams: new StreamSlots(runtime.config.server.maxStreamsPerKey),
    rateLimit(principal) {
      const waitMs = limiter?.take(String(principal.keyIndex)) ?? 0;
      if (waitMs > 0) throw new TasklaneError('TL_ERR_RATE_LIMITED', `too many requests for this key; retry in ${waitMs} ms`, { details: { retryAfterMs: waitMs } });
    },
  };

  // Counts per method, route and status in plain numbers, handed over when the registry is read.
  const tallies: Tally[] = [];
  const requests = new Counter({
    name: 'tasklane_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [runtime.metrics],
    collect() {
      for (const t of tallies) t.flush();
    },
  });
  const duration = new Histogram({
    name: 'tasklane_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [runtime.metrics],
  });

  const maxDepth = runtime.config.server.jsonMaxDepth;
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBounded(body as string, maxDepth));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // Figures made once per method, route and status: no label lookup per request.
  const counted = new Map<string, { requests: { inc(): void }; duration: Histogram.Internal<string> }>();
  const figures = (method: string, route: string, status: number) => {
    const id = `${method} ${status} ${route}`;
    let f = counted.get(id);
    if (!f) {
      const child = requests.labels(method, route, String(status));
      if (counted.size >= 10_000) return { requests: child, duration: duration.labels(method, route) };
      const tally = new Tally(child);
      tallies.push(tally);
      f = { requests: tally, duration: duration.labels(method, route) };
      counted.set(id, f);
    }
    return f;
  };

  // Callback hooks: no promise and no extra microtask per request.
  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', (req, _reply, done) => {
    if (req.routeOptions.config?.public) return done();
    try {
      // Anthropic's clients send their key as x-api-key.
      const apiKey = req.headers['x-api-key'];
      req.principal = authenticate(req.headers.authorization ?? (typeof apiKey === 'string' && apiKey ? `Bearer ${apiKey}` : undefined));
      ctx.rateLimit(req.principal);
    } catch (err) {
      return done(err as Error);
    }
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const f = figures(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode);
    f.requests.inc();
    f.duration.observe(reply.elapsedTime / 1000);
    done();
  });

  app.setErrorHandler((error, req, reply) => {
    const err = fromFastifyError(error);
    if (err.httpStatus >= 500) runtime.log.error({ err, url: req.url }, 'request failed');
    const body = errorBody(err);
    body.error.message = runtime.scrub(body.error.message);
    if (err.code.startsWith('TL_ERR_STORE_')) reply.header('retry-after', '1');
    else if (err.code === 'TL_ERR_RATE_LIMITED' || err.code === 'TL_ERR_LANE_FULL') {
      const retryAfterMs = Number(err.details.retryAfterMs ?? 1000);
      reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
    }
    return reply.code(err.httpStatus).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody(new TasklaneError('TL_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));
  });

  await app.register(async (scope) => healthRoutes(scope, ctx));
  for (const plugin of [...builtInRoutes, ...(options.routes ?? [])]) {
    await app.register(async (scope) => plugin(scope, ctx));
  }

  runtime.onClose('http-server', () => app.close());
  return app;
}

/** Route plugins of the subsystems; each subsystem adds its own here. */
const builtInRoutes: RoutePlugin[] = [aiRoutes, embeddingsRoutes, messagesRoutes, responsesRoutes, jobsRoutes, dashboardRoutes];

function fromFastifyError(error: unknown): TasklaneError {
  if (TasklaneError.isInstance(error)) return error;
  const e = error as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new TasklaneError('TL_ERR_BODY_TOO_LARGE', e.message);
  if (e.validation || e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || (e.statusCode === 400)) {
    return new TasklaneError('TL_ERR_VALIDATION', e.message ?? 'invalid request');
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return new TasklaneError('TL_ERR_VALIDATION', e.message ?? 'bad request', { httpStatus: e.statusCode });
  }
  return toTasklaneError(error);
}
