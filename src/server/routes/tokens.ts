import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../errors.js';
import type { ServerContext } from '../context.js';
import { TENANT_HEADER, viewerOf } from '../ownership.js';
import type { StreamTokens } from '../stream-token.js';
import { parseWith } from '../parse-with.js';
import { tokenBody } from './job-schemas.js';

/**
 * POST /v1/tokens: a short-lived token for `?token=` on the SSE and WebSocket routes, which
 * browsers open without headers. It grants at most `jobs:read`, only if the caller's key has it,
 * optionally for a list of jobs only.
 */
export async function tokenRoutes(app: FastifyInstance, ctx: ServerContext, tokens: StreamTokens): Promise<void> {
  const { tokenTtlMs, maxTokenTtlMs } = ctx.runtime.config.server.streams;
  app.post('/v1/tokens', async (req, reply) => {
    const body = parseWith(tokenBody, req.body, 'body');
    const scopes = body.scopes ?? ['jobs:read'];
    for (const scope of scopes) ctx.requireScope(req, scope);
    const ttlMs = body.ttlMs ?? tokenTtlMs;
    if (ttlMs > maxTokenTtlMs) throw new ValidationError(`invalid body: ttlMs: at most ${maxTokenTtlMs} (server.streams.maxTokenTtlMs)`);
    const viewer = viewerOf(req.principal, req.headers[TENANT_HEADER]);
    const minted = tokens.mint({
      keyIndex: req.principal.keyIndex,
      name: req.principal.name,
      scopes: [...new Set(scopes)],
      ttlMs,
      jobs: body.jobs,
      viewer,
    });
    return reply.code(201).send({ token: minted.token, expiresAt: minted.expiresAt, scopes, ...(body.jobs ? { jobs: body.jobs } : {}) });
  });
}
