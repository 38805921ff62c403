import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { requestLogOf, type AiRequestLog } from '../../ai/request-log.js';
import type { ServerContext } from '../context.js';
import { TENANT_HEADER, viewerOf } from '../ownership.js';
import { parseWith } from '../parse-with.js';
import { loadAssets, type Asset } from './assets.js';
import { DashboardHistory } from './history.js';
import { buildOverview } from './overview.js';
import type { DashboardSource } from './source.js';

export type { Overview, KeyView } from './overview.js';
export type { HistorySeries } from './history.js';

/**
 * Content-Security-Policy of the dashboard: only its own scripts, styles and connections
 * ('self' covers ws:// on the same host), no inline script, no frames.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const aiRequestsQuery = z.object({ limit: z.coerce.number().int().min(1).max(1_000).optional() }).strict();

/**
 * `GET /dashboard` and its assets (public: the shell holds no data; the page asks for a client key
 * and sends it on every data call), plus the data routes, which keep the normal key check:
 * `GET /v1/admin/overview` (lanes, loop, AI health, job counts; jobs:read),
 * `GET /v1/admin/history` (the charts' last minutes; jobs:read) and
 * `GET /v1/admin/ai/requests` (the last AI requests; admin).
 */
export async function dashboardRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const runtime: DashboardSource = ctx.runtime;
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
  // Only the files loaded at start are served: the name is a map key, never a path on disk.
  app.get<{ Params: { '*': string } }>('/dashboard/*', { config: { public: true } }, async (req, reply) => {
    const asset = assets.get(req.params['*']);
    if (!asset || req.params['*'] === 'index.html') throw new NotFoundError(`the dashboard has no file ${req.params['*']}`);
    return send(reply, asset);
  });

  const log = aiLog(runtime);
  const history = new DashboardHistory(runtime);
  history.start();
  app.addHook('onClose', async () => history.stop());

  const json = (reply: FastifyReply, body: unknown) =>
    // Belt and braces: every configured secret is replaced even if a subsystem leaked one into a reason.
    reply
      .type('application/json; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(runtime.scrub(JSON.stringify(body)));

  app.get('/v1/admin/overview', async (req, reply) => {
    // jobs:read is enough to watch; requireScope lets admin keys through too.
    ctx.requireScope(req, 'jobs:read');
    // Job counts cover only the jobs this key sees.
    const { filter } = viewerOf(req.principal, req.headers[TENANT_HEADER]);
    return json(reply, await buildOverview(runtime, { owner: filter, recent: log?.list() ?? [], counted: history.outcomes() }));
  });

  app.get('/v1/admin/history', async (req, reply) => {
    ctx.requireScope(req, 'jobs:read');
    return json(reply, history.series());
  });

  app.get('/v1/admin/ai/requests', async (req, reply) => {
    // Routes, models and error messages of every caller: for operators only.
    ctx.requireScope(req, 'admin');
    const { limit } = parseWith(aiRequestsQuery, req.query, 'query');
    return json(reply, { requests: log ? log.list(limit) : [], capacity: log?.capacity ?? 0, total: log?.total ?? 0 });
  });
}

/** The orchestrator's request log, or undefined when the runtime has no AI subsystem. */
function aiLog(runtime: DashboardSource): AiRequestLog | undefined {
  return runtime.ai ? requestLogOf(runtime.ai) : undefined;
}
