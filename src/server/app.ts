import Fastify, { type FastifyInstance } from 'fastify';
import type { Runtime } from '../create-runtime.js';
import { requireScope, type Principal } from './auth.js';
import { Keyring } from './keyring.js';
import type { RoutePlugin, ServerContext, ServerOptions } from './context.js';
import { edgeGuard } from './edge-guard.js';
import { clientErrorHandler, frameworkErrors, installErrorHandler } from './error-handler.js';
import { httpMetrics } from './http-metrics.js';
import { parseJsonBounded } from './limits.js';
import { KeyLimits } from './key-limits.js';
import { StreamSlots } from './stream-slots.js';
import { healthRoutes } from './routes/health.js';
import { aiRoutes } from './routes/ai.js';
import { embeddingsRoutes } from './routes/embeddings.js';
import { messagesRoutes } from './routes/messages.js';
import { responsesRoutes } from './routes/responses.js';
import { dashboardRoutes } from './dashboard/index.js';
import { jobsRoutes } from './routes/jobs.js';
import { rootRoutes } from './routes/root.js';
import { addAccessLog } from './access-log.js';
import { reloadRoutes } from './routes/reload.js';
import { spendRoutes } from './routes/spend.js';
import { scheduleRoutes } from './routes/schedules.js';
import { JOB_ID_MAX } from './routes/job-schemas.js';
import { traceRequest } from './request-trace.js';

export type { ReadinessCheck, RoutePlugin, ServerContext, ServerOptions } from './context.js';

/**
 * Builds the Fastify app for a runtime. The app registers its own closer on the runtime, so
 * runtime.close() closes the server first (closers run in reverse order).
 */
export async function buildServer(runtime: Runtime, options: ServerOptions = {}): Promise<FastifyInstance> {
  const config = runtime.config.server;
  const app = Fastify({
    logger: false,
    bodyLimit: config.bodyLimitBytes,
    // A path segment as long as the longest id the routes accept: a longer one is a 414 in our shape.
    routerOptions: { maxParamLength: JOB_ID_MAX },
    // Keep-alive sockets would hold close() open; they are closed with the server.
    forceCloseConnections: true,
    return503OnClosing: true,
    clientErrorHandler: clientErrorHandler(runtime.scrub),
    frameworkErrors: frameworkErrors(runtime.scrub),
  });
  // Client keys and the rate limit are replaced by a configuration reload (routes/reload.ts).
  const keyring = new Keyring(config.apiKeys);
  const authenticate = (header: string | undefined) => keyring.authenticate(header);
  let limiter = new KeyLimits(config.rateLimit);
  const ctx: ServerContext = {
    runtime,
    keyring,
    readiness: new Map(),
    requireScope: (req, scope) => requireScope(req.principal, scope),
    streams: new StreamSlots(config.maxStreamsPerKey),
    rateLimit(principal: Principal) {
      limiter.take(principal);
    },
  };

  httpMetrics(app, runtime.metrics);
  installErrorHandler(app, runtime);

  // Bodies are JSON only: no text/plain parser, so a cross-site "simple request" never parses.
  const maxDepth = config.jsonMaxDepth;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    // An empty body with content-type: application/json is no body (many clients send the header on every POST).
    if ((body as string).trim() === '') return done(null, undefined);
    try {
      done(null, parseJsonBounded(body as string, maxDepth));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // Callback hooks: no promise and no extra microtask per request.
  const guard = edgeGuard({ open: config.apiKeys.length === 0, allowedHosts: config.allowedHosts, allowedOrigins: config.allowedOrigins });
  app.decorateRequest('principal', null as unknown as Principal);
  app.decorateRequest('traceparent', '');
  const tracing = runtime.tracing;
  app.addHook('onRequest', (req, reply, done) => {
    try {
      traceRequest(tracing, req, reply);
      guard(req);
      if (!req.routeOptions.config?.public) {
        // Anthropic's clients send their key as x-api-key: read on the Anthropic route(s) only (issue 15).
        const apiKey = req.routeOptions.config?.dialect === 'anthropic' ? req.headers['x-api-key'] : undefined;
        req.principal = authenticate(req.headers.authorization ?? (typeof apiKey === 'string' && apiKey ? `Bearer ${apiKey}` : undefined));
        ctx.rateLimit(req.principal);
      }
    } catch (err) {
      return done(err as Error);
    }
    done();
  });

  // A WebSocket upgrade refused by the hook above never reaches @fastify/websocket's own hooks,
  // which would end its socket: Node hands upgrade sockets over and no longer tracks them, so
  // without this the socket stays open and app.close() waits for it.
  app.addHook('onResponse', (req, reply, done) => {
    if (reply.statusCode >= 400 && req.headers.upgrade !== undefined) req.raw.socket?.destroy();
    done();
  });

  if (runtime.config.log.access) addAccessLog(app, runtime.log);

  await app.register(async (scope) => healthRoutes(scope, ctx));
  for (const plugin of [...builtInRoutes, ...(options.routes ?? [])]) {
    await app.register(async (scope) => plugin(scope, ctx));
  }

  const unreload = runtime.onReload('server', (next, previous) => {
    const applied: string[] = [];
    const restart: string[] = [];
    if (JSON.stringify(next.server.apiKeys) !== JSON.stringify(previous.server.apiKeys)) {
      // Keys on or off changes where the server may listen (no keys = loopback only): a restart.
      if (next.server.apiKeys.length > 0 !== keyring.enabled) restart.push('server.apiKeys');
      else {
        const ended = keyring.replace(next.server.apiKeys);
        if (ended > 0) runtime.log.info({ streams: ended }, 'ended the streams of revoked client keys');
        applied.push('server.apiKeys');
      }
    }
    if (JSON.stringify(next.server.rateLimit) !== JSON.stringify(previous.server.rateLimit)) {
      limiter = new KeyLimits(next.server.rateLimit);
      applied.push('server.rateLimit');
    }
    if (next.server.maxStreamsPerKey !== previous.server.maxStreamsPerKey) restart.push('server.maxStreamsPerKey');
    return { applied, restart };
  });
  runtime.onClose('http-server', () => {
    unreload();
    return app.close();
  });
  return app;
}

/** Route plugins of the subsystems; each subsystem adds its own here. */
const builtInRoutes: RoutePlugin[] = [
  rootRoutes,
  aiRoutes,
  embeddingsRoutes,
  messagesRoutes,
  responsesRoutes,
  jobsRoutes,
  scheduleRoutes,
  dashboardRoutes,
  reloadRoutes,
  spendRoutes,
];
