import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { periodsOf, resetsOf } from '../../ai/spend/spend-store.js';
import type { ServerContext } from '../context.js';
import { TENANT_HEADER, canSee, viewerOf } from '../ownership.js';
import { parseWith } from '../parse-with.js';

const jobsQuery = z.object({ ids: z.string().min(1).max(10_000) }).strict();

/**
 * Spend reports: `GET /v1/admin/spend` (admin) lists every client key, tenant and provider with
 * what it spent this UTC day and month, beside each key's budget; `GET /v1/admin/spend/jobs?ids=`
 * (jobs:read) gives the cost of the listed jobs the caller may see (the dashboard's cost column).
 */
export async function spendRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { runtime } = ctx;

  app.get('/v1/admin/spend', async (req) => {
    ctx.requireScope(req, 'admin');
    const now = Date.now();
    const { day, month } = periodsOf(now);
    const resets = resetsOf(now);
    const acct = runtime.ai.accounting?.accountant;
    const rows = acct ? await acct.store.report(now) : [];
    const budgets = (acct?.keys ?? runtime.config.server.apiKeys)
      .filter((k) => k.budget || k.limits)
      .map((k) => ({ key: k.name, ...(k.budget ? { budget: k.budget } : {}), ...(k.limits ? { limits: k.limits } : {}) }));
    return {
      enabled: acct !== undefined,
      day,
      month,
      resets: { day: new Date(resets.day).toISOString(), month: new Date(resets.month).toISOString() },
      rows,
      budgets,
    };
  });

  app.get('/v1/admin/spend/jobs', async (req) => {
    ctx.requireScope(req, 'jobs:read');
    const viewer = viewerOf(req.principal, req.headers[TENANT_HEADER]);
    const ids = [...new Set(parseWith(jobsQuery, req.query, 'query').ids.split(','))].slice(0, 200);
    const store = runtime.ai.accounting?.accountant.store;
    const jobs: Record<string, unknown> = {};
    if (store) {
      await Promise.all(
        ids.map(async (id) => {
          if (!viewer.all) {
            const job = await runtime.jobs.get(id);
            if (!job || !canSee(viewer, job)) return;
          }
          const cost = await store.jobCost(id);
          if (cost) jobs[id] = cost;
        }),
      );
    }
    return { jobs };
  });
}
