import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AbortError, TasklaneError, ValidationError, errorBody, toTasklaneError } from '../../errors.js';
import type { AiCallOptions, AiMeta, ChatChunk } from '../../ai/types.js';
import { validateChatRequest } from '../../ai/validate.js';
import type { ServerContext } from '../context.js';

/**
 * The OpenAI-compatible gateway: POST /v1/chat/completions (plain and SSE) and GET /v1/models.
 * Every answer says who served it in x-tasklane-* headers; errors keep OpenAI's shape
 * `{error:{code,message,type}}` with our stable code.
 */
export async function aiRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { runtime } = ctx;
  const maxMessages = runtime.config.server.maxMessages;

  app.post('/v1/chat/completions', async (req, reply) => {
    ctx.requireScope(req, 'ai');
    const ai = runtime.ai;
    const body = validateChatRequest(req.body);
    if (body.messages.length > maxMessages) {
      throw new ValidationError(`"messages" holds ${body.messages.length} messages; at most ${maxMessages} are accepted (server.maxMessages)`);
    }
    const controller = new AbortController();
    const res = reply.raw;
    // The client went away before the answer was written: stop the upstream call (single-flight
    // keeps it going while another caller still waits).
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort(new AbortError('the client closed the connection'));
    };
    res.once('close', onClose);
    const options = callOptions(req, controller.signal);
    let release: (() => void) | undefined;
    try {
      if (body.stream === true) {
        release = ctx.streams.acquire(req.principal);
        const s = await ai.openStream(body, options);
        reply.hijack();
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...metaHeaders(s.meta) });
        await writeStream(res, s.chunks, runtime.scrub);
        return;
      }
      const { completion, meta } = await ai.chat(body, options);
      return reply.headers(metaHeaders(meta)).send(completion);
    } catch (err) {
      if (reply.sent || res.headersSent) return;
      return sendError(reply, err, runtime.scrub);
    } finally {
      release?.();
      res.removeListener('close', onClose);
    }
  });

  app.get('/v1/models', async (req) => {
    ctx.requireScope(req, 'ai');
    const data = runtime.ai.models().map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: 'tasklane', targets: m.targets }));
    return { object: 'list', data };
  });
}

export function callOptions(req: FastifyRequest, signal: AbortSignal): AiCallOptions {
  const options: AiCallOptions = { signal };
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
  };
}

const TYPES: Record<number, string> = { 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 413: 'invalid_request_error', 429: 'rate_limit_error' };

export function sendError(reply: FastifyReply, thrown: unknown, scrub: (s: string) => string): FastifyReply {
  const err = toTasklaneError(thrown);
  const body = errorBody(err) as { error: { code: string; message: string; type?: string; details?: Record<string, unknown> } };
  body.error.message = scrub(body.error.message);
  body.error.type = TYPES[err.httpStatus] ?? (err.httpStatus >= 500 ? 'api_error' : 'invalid_request_error');
  // An AI failure says how many upstream attempts it made and how long it waited, as an answer does.
  if (Array.isArray(err.details.attempts)) reply.header('x-tasklane-attempts', String(err.details.attempts.length));
  if (typeof err.details.waitedMs === 'number' && err.details.waitedMs > 0) reply.header('x-tasklane-waited-ms', String(err.details.waitedMs));
  const retryAfterMs = err.details.retryAfterMs;
  if (typeof retryAfterMs === 'number' && (err.httpStatus === 429 || err.httpStatus === 503)) {
    reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  }
  return reply.code(err.httpStatus).send(body);
}

/**
 * Writes the chunks as SSE and `data: [DONE]` at the end. A failure after the first chunk ends
 * the stream with an error event and no [DONE], so no client mistakes it for a whole answer.
 */
async function writeStream(res: ServerResponse, chunks: AsyncIterable<ChatChunk>, scrub: (s: string) => string): Promise<void> {
  // Chunks that arrive in one upstream read are written as one TCP segment: cork at the first,
  // uncork once the current burst of microtasks is done.
  let corked = false;
  const uncork = (): void => {
    corked = false;
    res.uncork();
  };
  try {
    for await (const chunk of chunks) {
      if (res.destroyed) return;
      if (!corked) {
        corked = true;
        res.cork();
        process.nextTick(uncork);
      }
      if (!res.write(`data: ${JSON.stringify(chunk)}\n\n`)) await drained(res);
    }
    if (!res.destroyed) res.end('data: [DONE]\n\n');
  } catch (thrown) {
    if (res.destroyed) return;
    const err = TasklaneError.isInstance(thrown) ? thrown : toTasklaneError(thrown);
    res.end(`data: ${JSON.stringify({ error: { code: err.code, message: scrub(err.message), type: 'api_error' } })}\n\n`);
  }
}

export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.removeListener('drain', done);
      res.removeListener('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
