import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Gauge } from 'prom-client';
import { ValidationError } from '../../errors.js';
import type { ServerContext } from '../context.js';
import { TENANT_HEADER, viewerOf, visibleOr404 } from '../ownership.js';
import { streamAuth } from '../stream-auth.js';
import { StreamTokens } from '../stream-token.js';
import { jobEventRoutes } from './job-events.js';
import { boundedList } from './job-list.js';
import { jobSocketRoutes } from './job-socket.js';
import { jobSignalRoutes } from './job-signals.js';
import { parseWith } from '../parse-with.js';
import { jobParams, listQuery, submitBody } from './job-schemas.js';
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
  const onRequest = streamAuth(ctx.keyring, tokens, ctx.rateLimit);
  await tokenRoutes(app, ctx, tokens);
  const open = new Gauge({
    name: 'tasklane_job_streams_open',
    help: 'Job event subscriptions being served, by transport (one per SSE request, one per job followed on a WebSocket)',
    labelNames: ['transport'],
    registers: [runtime.metrics],
  });
  await jobEventRoutes(app, ctx, onRequest, open.labels('sse'));
  await jobSocketRoutes(app, ctx, onRequest, open.labels('ws'));
  await jobSignalRoutes(app, ctx);

  const viewer = (req: FastifyRequest) => viewerOf(req.principal, req.headers[TENANT_HEADER]);

  app.post('/v1/jobs', async (req, reply) => {
    ctx.requireScope(req, 'jobs:write');
    const { owner } = viewer(req);
    // An array is all-or-nothing (DESIGN "Jobs API"): 201 { jobs }, or 400 naming the index.
    if (Array.isArray(req.body)) {
      const items = req.body.map((item, index) => {
        try {
          return parseWith(submitBody, item, 'job');
        } catch (err) {
          const e = err as ValidationError;
          throw new ValidationError(`body[${index}]: ${e.message}`, { details: { index, ...e.details } });
        }
      });
      const made = await jobs.enqueueMany(items.map((it) => ({ ...it, ...(owner ? { owner } : {}), traceparent: req.traceparent })));
      return reply.code(201).send({ jobs: made });
    }
    const body = parseWith(submitBody, req.body, 'body');
    const startedAt = Date.now();
    const { task, input, ...opts } = body;
    const job = await jobs.enqueue(task, input, { ...opts, ...(owner ? { owner } : {}), traceparent: req.traceparent });
    // An idempotency key that matched returns the job made earlier: 200, not 201.
    const existing = body.idempotencyKey !== undefined && job.createdAt < startedAt;
    return reply.code(existing ? 200 : 201).send(job);
  });

  // Records without input/result unless ?include= names them; past server.maxListBytes the page
  // ends early with `next` (see boundedList).
  const maxListBytes = runtime.config.server.maxListBytes;
  app.get('/v1/jobs', async (req, reply) => {
    ctx.requireScope(req, 'jobs:read');
    const { filter } = viewer(req);
    const q = parseWith(listQuery, req.query, 'query');
    const text = await boundedList(jobs, filter ? { ...q, owner: filter } : q, maxListBytes);
    return reply.type('application/json; charset=utf-8').send(text);
  });

  app.get('/v1/jobs/:id', async (req) => {
    ctx.requireScope(req, 'jobs:read');
    const v = viewer(req);
    const { id } = parseWith(jobParams, req.params, 'path');
    const job = visibleOr404(v, id, await jobs.get(id));
    // What the job's AI calls cost so far (and per step), from the spend store.
    const cost = await runtime.ai.accounting?.accountant.store.jobCost(id);
    // Workflows: children (spawn order) and steps (call order), when the job has any.
    const { children, steps } = await jobs.workflow(id);
    return {
      ...job,
      ...(cost ? { cost } : {}),
      ...(children.length > 0 ? { children } : {}),
      ...(steps.length > 0 ? { steps } : {}),
    };
  });

  // The owner never changes, so a check before the action holds for the action too.
  app.post('/v1/jobs/:id/cancel', async (req) => {
    ctx.requireScope(req, 'jobs:write');
    const v = viewer(req);
    const { id } = parseWith(jobParams, req.params, 'path');
    if (!v.all) visibleOr404(v, id, await jobs.get(id));
    return jobs.cancel(id);
  });

  app.post('/v1/jobs/:id/retry', async (req) => {
    ctx.requireScope(req, 'jobs:write');
    const v = viewer(req);
    const { id } = parseWith(jobParams, req.params, 'path');
    if (!v.all) visibleOr404(v, id, await jobs.get(id));
    return jobs.retry(id);
  });
}
