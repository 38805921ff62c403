import type { FastifyInstance } from 'fastify';

/** `GET /` sends a person who opens the server's address to the dashboard (public: no data). */
export async function rootRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', { config: { public: true } }, async (_req, reply) => reply.redirect('/dashboard'));
}
