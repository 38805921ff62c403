import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ServerContext } from '../context.js';
import { TENANT_HEADER, viewerOf } from '../ownership.js';
import { loadAssets, type Asset } from './assets.js';
import { buildOverview } from './overview.js';

export type { Overview, KeyView } from './overview.js';

/**
 * Content-Security-Policy of the dashboard: only its own scripts, styles and connections
 * ('self' covers ws:// on the same host), no inline script, no frames.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * `GET /dashboard` and its assets (public: the shell holds no data; the page asks for a client key
 * and sends it on every data call) plus `GET /v1/admin/overview` (lanes, loop, AI health, job
 * counts), which keeps the normal key check.
 */
export async function dashboardRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const assets = await loadAssets();
  const send = (reply: FastifyReply, asset: Asset) =>
    reply
      .type(asset.type)
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('content-security-policy', CSP)
      .send(asset.body);

  app.get('/dashboard', { config: { public: true } }, async (_req, reply) => send(reply, assets.get('index.html')!));
  app.get('/dashboard/', { config: { public: true } }, async (_req, reply) => reply.redirect('/dashboard'));
  app.get('/dashboard/app.js', { config: { public: true } }, async (_req, reply) => send(reply, assets.get('app.js')!));
  app.get('/dashboard/app.css', { config: { public: true } }, async (_req, reply) => send(reply, assets.get('app.css')!));

  app.get('/v1/admin/overview', async (req, reply) => {
    // jobs:read is enough to watch; requireScope lets admin keys through too.
    ctx.requireScope(req, 'jobs:read');
    // Job counts cover only the jobs this key sees.
    const { filter } = viewerOf(req.principal, req.headers[TENANT_HEADER]);
    const overview = await buildOverview(ctx.runtime, { owner: filter });
    // Belt and braces: every configured secret is replaced even if a subsystem leaked one into a reason.
    return reply.type('application/json; charset=utf-8').header('cache-control', 'no-store').send(ctx.runtime.scrub(JSON.stringify(overview)));
  });
}
