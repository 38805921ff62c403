import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';

/**
 * POST /v1/admin/reload (admin scope): reads the configuration file and every env:/file: secret
 * again and applies what can change live. 200 `{ applied, restartRequired, file?, at }`; an invalid
 * configuration is 500 TL_ERR_CONFIG_* listing every problem, and the running one stays.
 */
export async function reloadRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.post('/v1/admin/reload', async (req) => {
    ctx.requireScope(req, 'admin');
    const report = await ctx.runtime.reload();
    ctx.runtime.log.info({ applied: report.applied, restartRequired: report.restartRequired, via: 'http' }, 'configuration reloaded');
    return report;
  });
}
