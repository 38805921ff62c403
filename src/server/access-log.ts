/**
 * `log.access: true`: one info line per HTTP request once its answer is sent (method, route,
 * status, ms, client key name). The key itself never appears: only the name its entry in
 * server.apiKeys gives it, or its index there.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../runtime/logger.js';
import type { Principal } from './auth.js';

export function addAccessLog(app: FastifyInstance, log: Logger): void {
  app.addHook('onResponse', (req, reply, done) => {
    const principal = (req as { principal?: Principal | null }).principal;
    const key = principal && principal.keyIndex >= 0 ? (principal.name ?? `#${principal.keyIndex}`) : undefined;
    const route = req.routeOptions.url ?? 'unmatched';
    const ms = Math.round(reply.elapsedTime * 10) / 10;
    log.info(
      { access: true, method: req.method, route, status: reply.statusCode, ms, ...(key ? { client: key } : {}) },
      `${req.method} ${route} ${reply.statusCode} ${ms} ms`,
    );
    done();
  });
}
