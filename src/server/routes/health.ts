import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { requireScope } from '../auth.js';

/** Liveness, readiness and Prometheus metrics: open without a key (metrics unless server.publicMetrics is false). */
export async function healthRoutes(app: FastifyInstance, { runtime, readiness }: ServerContext): Promise<void> {
  app.get('/healthz', { config: { public: true } }, async () => {
    const loop = runtime.loop.snapshot();
    return { status: 'ok', uptimeS: Math.round(process.uptime()), loop };
  });

  app.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    if (runtime.closing) return reply.code(503).send({ status: 'shutting_down' });
    const problems: Record<string, string> = {};
    for (const [name, check] of readiness) {
      try {
        const res = await check();
        if (res !== true) problems[name] = res === false ? 'not ready' : res;
      } catch (err) {
        problems[name] = runtime.scrub(err instanceof Error ? err.message : String(err));
      }
    }
    if (Object.keys(problems).length > 0) return reply.code(503).send({ status: 'not_ready', problems });
    return { status: 'ready' };
  });

  app.get('/metrics', { config: { public: runtime.config.server.publicMetrics } }, async (req, reply) => {
    if (!runtime.config.server.publicMetrics) requireScope(req.principal, 'admin');
    const text = await runtime.metrics.metrics();
    return reply.type(runtime.metrics.contentType).send(runtime.scrub(text));
  });
}
