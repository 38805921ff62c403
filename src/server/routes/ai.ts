import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { AbortError, type TasklaneError, ValidationError } from '../../errors.js';
import type { AiCallOptions, AiMeta, ChatChunk } from '../../ai/types.js';
import { rawBody, rawChunk } from '../../ai/raw.js';
import { validateChatRequest } from '../../ai/validate.js';
import type { Principal } from '../auth.js';
import type { ServerContext } from '../context.js';
import { TENANT_HEADER, viewerOf } from '../ownership.js';
import { hasControlCharacters, headerValues } from '../streams/header-values.js';
import { SseWriter } from '../streams/sse-writer.js';
import { toWire, type Scrub } from '../streams/wire-errors.js';

/**
 * The OpenAI-compatible gateway: POST /v1/chat/completions (plain and SSE) and GET /v1/models.
 * Every answer says who served it in x-tasklane-* headers; errors keep OpenAI's shape
 * `{error:{code,message,type}}` with our stable code (the error handler, `dialect: 'openai'`).
 */
export async function aiRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { runtime } = ctx;
  const maxMessages = runtime.config.server.maxMessages;
  const openai = { config: { dialect: 'openai' as const } };

  app.post('/v1/chat/completions', openai, async (req, reply) => {
    ctx.requireScope(req, 'ai');
    const ai = runtime.ai;
    const body = validateChatRequest(req.body);
    assertPlainModel(body.model);
    if (body.messages.length > maxMessages) {
      throw new ValidationError(
        `"messages" holds ${body.messages.length} messages; at most ${maxMessages} are accepted (server.maxMessages)`,
      );
    }
    const res = reply.raw;
    const client = abortOnClientClose(res);
    const options = callOptions(req, client.signal);
    let release: (() => void) | undefined;
    try {
      if (body.stream === true) {
        release = holdStream(ctx, req.principal, client);
        const s = await ai.openStream(body, options);
        reply.hijack();
        await writeStream(
          new SseWriter(res, { headers: { ...metaHeaders(s.meta), traceparent: req.traceparent }, cork: true }),
          s.chunks,
          runtime.scrub,
        );
        return;
      }
      const { completion, meta } = await ai.chat(body, options);
      reply.headers(headerValues(metaHeaders(meta)));
      // Nothing rewritten: the upstream's body as it came (ai/raw.ts).
      const raw = rawBody(completion);
      return raw === undefined ? reply.send(completion) : reply.type('application/json; charset=utf-8').send(raw);
    } finally {
      release?.();
      client.done();
    }
  });

  app.get('/v1/models', openai, async (req) => {
    ctx.requireScope(req, 'ai');
    const data = runtime.ai.models().map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: 'tasklane', targets: m.targets }));
    return { object: 'list', data };
  });
}

/**
 * The model name goes back out in x-tasklane-model: a control character would make that header
 * throw after the upstream call was paid for, so it is refused before any call (every AI route).
 */
export function assertPlainModel(model: unknown): void {
  if (typeof model === 'string' && hasControlCharacters(model))
    throw new ValidationError('"model" holds a control character (CR, LF, NUL...); send a plain model name');
}

export function callOptions(req: FastifyRequest, signal: AbortSignal): AiCallOptions {
  const options: AiCallOptions = { signal, traceparent: req.traceparent };
  // Whom the call is charged to: the key's name and tenant (x-tasklane-tenant where the key may name one).
  const owner = viewerOf(req.principal, req.headers[TENANT_HEADER]).owner;
  if (owner) options.client = owner;
  const cc = req.headers['cache-control'];
  if (cc && /no-cache|no-store/i.test(cc)) options.noCache = true;
  // Asks the cache to keep a request it would skip as not deterministic (ai.cache.mode).
  const asked = req.headers['x-tasklane-cache'];
  if (typeof asked === 'string' && /^(on|true|1|cacheable)$/i.test(asked.trim())) options.cacheable = true;
  const t = req.headers['x-tasklane-timeout-ms'];
  if (t !== undefined) {
    const n = Number(t);
    if (!Number.isInteger(n) || n <= 0) throw new ValidationError('x-tasklane-timeout-ms must be a positive whole number of milliseconds');
    options.timeoutMs = n;
  }
  return options;
}

/** Who served the answer. Values are made header-safe where they are written (an upstream may name its model anything). */
export function metaHeaders(meta: AiMeta): Record<string, string> {
  return {
    'x-tasklane-provider': meta.provider,
    'x-tasklane-model': meta.model,
    'x-tasklane-key-index': String(meta.keyIndex),
    'x-tasklane-attempts': String(meta.attempts),
    'x-tasklane-latency-ms': String(meta.latencyMs),
    'x-tasklane-cache': meta.cache,
    // A short cooldown waited out before the answering call (not an attempt).
    ...(meta.waitedMs ? { 'x-tasklane-waited-ms': String(meta.waitedMs) } : {}),
    // Unrounded USD, when the model has a price (a stream's headers leave before it is known).
    ...(meta.cost !== undefined ? { 'x-tasklane-cost-usd': String(meta.cost) } : {}),
  };
}

/** An error in OpenAI's shape, for routes that answer it themselves (see streams/wire-errors). */
export function sendError(reply: FastifyReply, thrown: unknown, scrub: Scrub): FastifyReply {
  const wire = toWire(thrown, { dialect: 'openai', scrub });
  return reply.code(wire.status).headers(wire.headers).send(wire.body);
}

/**
 * Writes the chunks as SSE and `data: [DONE]` at the end. A failure after the first chunk ends
 * the stream with an error event and no [DONE], so no client mistakes it for a whole answer.
 */
async function writeStream(sse: SseWriter, chunks: AsyncIterable<ChatChunk>, scrub: Scrub): Promise<void> {
  try {
    for await (const chunk of chunks) {
      if (sse.closed) return;
      // A chunk that is the upstream's own event goes out as its bytes (ai/raw.ts).
      await sse.send(`data: ${rawChunk(chunk) ?? JSON.stringify(chunk)}\n\n`);
    }
    sse.end('data: [DONE]\n\n');
  } catch (thrown) {
    sse.fail(thrown, { dialect: 'openai', scrub });
  }
}

/**
 * Aborts the AI call when the client goes away before the answer was written (single-flight keeps
 * the upstream call going while another caller still waits). `done()` detaches once the answer is out.
 */
export function abortOnClientClose(res: ServerResponse): { signal: AbortSignal; done(): void; abort(reason: TasklaneError): void } {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort(new AbortError('the client closed the connection'));
  };
  res.once('close', onClose);
  return { signal: controller.signal, done: () => res.removeListener('close', onClose), abort: (reason) => controller.abort(reason) };
}

/**
 * A stream slot of the key (server.maxStreamsPerKey) until the returned function runs. A reload
 * that revokes the key ends the stream as it ends job streams: the call aborts with
 * TL_ERR_AUTH_REVOKED, which the stream writes as its in-band error in the route's dialect.
 */
export function holdStream(ctx: ServerContext, principal: Principal, client: { abort(reason: TasklaneError): void }): () => void {
  const release = ctx.streams.acquire(principal);
  const unhold = ctx.keyring.hold(principal, (reason) => client.abort(reason));
  return () => {
    unhold();
    release();
  };
}
