import type { FastifyInstance, FastifyReply } from 'fastify';
import { AbortError, TasklaneError, ValidationError, toTasklaneError } from '../../errors.js';
import type { ServerContext } from '../context.js';
import { MessagesStream, anthropicErrorType, chatToMessage, messagesToChat } from '../dialects/anthropic-messages.js';
import { EventWriter } from '../dialects/write-events.js';
import { callOptions, metaHeaders } from './ai.js';

/**
 * POST /v1/messages, Anthropic's Messages API over any provider (translated to the internal
 * request and back; an Anthropic target gets the caller's own body). Errors in Anthropic's shape
 * `{type:"error", error:{type, message, code}}` with our code, for every failure of this route
 * including auth; a stream that breaks ends with `event: error` and no message_stop.
 */
export async function messagesRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { runtime } = ctx;
  const maxMessages = runtime.config.server.maxMessages;
  const scrub = runtime.scrub;

  app.post(
    '/v1/messages',
    {
      errorHandler: (error, _req, reply) => {
        const err = TasklaneError.isInstance(error) ? error : fromFramework(error);
        if (err.httpStatus >= 500) runtime.log.error({ err }, 'request failed');
        return sendAnthropicError(reply, err, scrub);
      },
    },
    async (req, reply) => {
      ctx.requireScope(req, 'ai');
      const body = messagesToChat(req.body);
      if (body.messages.length > maxMessages) {
        throw new ValidationError(`"messages" holds ${body.messages.length} messages; at most ${maxMessages} are accepted (server.maxMessages)`);
      }
      const controller = new AbortController();
      const res = reply.raw;
      const onClose = (): void => {
        if (!res.writableFinished) controller.abort(new AbortError('the client closed the connection'));
      };
      res.once('close', onClose);
      const options = callOptions(req, controller.signal);
      const ai = runtime.ai;
      let release: (() => void) | undefined;
      try {
        if (body.stream === true) {
          release = ctx.streams.acquire(req.principal);
          const s = await ai.openStream(body, options);
          reply.hijack();
          res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...metaHeaders(s.meta) });
          const out = new EventWriter(res);
          const translate = new MessagesStream(body.model);
          try {
            for await (const chunk of s.chunks) if (!(await out.write(translate.push(chunk)))) return;
            out.end(translate.end());
          } catch (thrown) {
            const err = toTasklaneError(thrown);
            out.end([{ event: 'error', data: { type: 'error', error: { type: anthropicErrorType(err.httpStatus), message: scrub(err.message), code: err.code } } }]);
          }
          return;
        }
        const { completion, meta } = await ai.chat(body, options);
        return reply.headers(metaHeaders(meta)).send(chatToMessage(completion, body.model));
      } catch (err) {
        if (reply.sent || res.headersSent) return;
        return sendAnthropicError(reply, err, scrub);
      } finally {
        release?.();
        res.removeListener('close', onClose);
      }
    },
  );
}

export function sendAnthropicError(reply: FastifyReply, thrown: unknown, scrub: (s: string) => string): FastifyReply {
  const err = toTasklaneError(thrown);
  const retryAfterMs = err.details.retryAfterMs;
  if (typeof retryAfterMs === 'number' && (err.httpStatus === 429 || err.httpStatus === 503)) reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  return reply.code(err.httpStatus).send({ type: 'error', error: { type: anthropicErrorType(err.httpStatus), message: scrub(err.message), code: err.code } });
}

function fromFramework(error: unknown): TasklaneError {
  const e = error as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new TasklaneError('TL_ERR_BODY_TOO_LARGE', e.message);
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return new TasklaneError('TL_ERR_VALIDATION', e.message ?? 'bad request', { httpStatus: e.statusCode });
  return toTasklaneError(error);
}
