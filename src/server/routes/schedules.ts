import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';

/**
 * GET /v1/schedules (admin scope): every schedule of this server with its next tick and latest
 * run. Admin because schedules are the fleet's configuration and their jobs belong to no client key.
 */
export async function scheduleRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get('/v1/schedules', async (req) => {
    ctx.requireScope(req, 'admin');
    return { schedules: await ctx.runtime.jobs.schedules() };
  });
}
