/**
 * `POST /v1/jobs/:id/signals/:name`: sends a signal to a job (`ctx.waitForSignal(name)`); the JSON
 * body is the payload (none = null). Same owner checks as cancel and retry; a finished job is a
 * 409 TL_ERR_JOB_STATE, a job nobody may see a 404.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { TENANT_HEADER, viewerOf, visibleOr404 } from '../ownership.js';
import { parseWith } from '../parse-with.js';
import { JOB_ID_MAX } from './job-schemas.js';

const signalParams = z.object({
  id: z.string().min(1).max(JOB_ID_MAX),
  name: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'must be 1 to 100 letters, digits or _ . : -'),
});

export async function jobSignalRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const jobs = ctx.runtime.jobs;
  app.post('/v1/jobs/:id/signals/:name', async (req) => {
    ctx.requireScope(req, 'jobs:write');
    const v = viewerOf(req.principal, req.headers[TENANT_HEADER]);
    const { id, name } = parseWith(signalParams, req.params, 'path');
    if (!v.all) visibleOr404(v, id, await jobs.get(id));
    // The record after: `queued` when the signal woke a job waiting for it.
    return jobs.signal(id, name, req.body ?? null);
  });
}
