import type { FastifyInstance } from 'fastify';
import { Gauge } from 'prom-client';
import { NotFoundError } from '../../errors.js';
import type { ServerContext } from '../app.js';
import { createAuthenticator } from '../auth.js';
import { streamAuth } from '../stream-auth.js';
import { StreamTokens } from '../stream-token.js';
import { jobEventRoutes } from './job-events.js';
import { jobSocketRoutes } from './job-socket.js';
import { jobParams, listQuery, parseWith, submitBody } from './job-schemas.js';
import { tokenRoutes } from './tokens.js';

/**
 * The jobs API: submit, list, get, cancel, retry (JSON), a job's events over SSE, many jobs'
 * events over one WebSocket, and the short-lived tokens browsers use on those two.
 */
export async function jobsRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { runtime } = ctx;
  const jobs = runtime.jobs;
  ctx.readiness.set('store', () => jobs.ready());

  const tokens = new StreamTokens({ secret: runtime.config.server.streams.tokenSecret });
  const onRequest = streamAuth(createAuthenticator(runtime.config.server.apiKeys), tokens, ctx.rateLimit);
  await tokenRoutes(app, ctx, tokens);
  const open = new Gauge({
    name: 'tasklane_job_streams_open',
    help: 'Job event subscriptions being served, by transport (one per SSE request, one per job followed on a WebSocket)',
    labelNames: ['transport'],
    registers: [runtime.metrics],
  });
  await jobEventRoutes(app, ctx, onRequest, open.labels('sse'));
  await jobSocketRoutes(app, ctx, onRequest, open.labels('ws'));

  app.post('/v1/jobs', async (req, reply) => {
    ctx.requireScope(req, 'jobs:write');
    const body = parseWith(submitBody, req.body, 'body');
    const startedAt = Date.now();
    const { task, input, ...opts } = body;
    const job = await jobs.enqueue(task, input, opts);
    // An idempotency key that matched returns the job made earlier: 200, not 201.
    const existing = body.idempotencyKey !== undefined && job.createdAt < startedAt;
    return reply.code(existing ? 200 : 201).send(job);
  });

  app.get('/v1/jobs', async (req) => {
    ctx.requireScope(req, 'jobs:read');
    const q = parseWith(listQuery, req.query, 'query');
    const page = await jobs.list(q);
    return { jobs: page.jobs, next: page.next ?? null };
  });

  app.get('/v1/jobs/:id', async (req) => {
    ctx.requireScope(req, 'jobs:read');
    const { id } = parseWith(jobParams, req.params, 'path');
    const job = await jobs.get(id);
    if (!job) throw new NotFoundError(`no job has the id ${id}`, { code: 'TL_ERR_JOB_NOT_FOUND', details: { jobId: id } });
    return job;
  });

  app.post('/v1/jobs/:id/cancel', async (req) => {
    ctx.requireScope(req, 'jobs:write');
    const { id } = parseWith(jobParams, req.params, 'path');
    return jobs.cancel(id);
  });

  app.post('/v1/jobs/:id/retry', async (req) => {
    ctx.requireScope(req, 'jobs:write');
    const { id } = parseWith(jobParams, req.params, 'path');
    return jobs.retry(id);
  });
}
