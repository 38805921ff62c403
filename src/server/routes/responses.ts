import type { FastifyInstance } from 'fastify';
import { ValidationError, toTasklaneError } from '../../errors.js';
import type { ServerContext } from '../context.js';
import { ResponsesStream, chatToResponse, responsesToChat } from '../dialects/openai-responses.js';
import { EventWriter } from '../dialects/write-events.js';
import { abortOnClientClose, assertPlainModel, holdStream, callOptions, metaHeaders, sendError } from './ai.js';
import { headerValues } from '../streams/header-values.js';
import { SseWriter } from '../streams/sse-writer.js';

/**
 * POST /v1/responses, the stateless part of OpenAI's Responses API over any provider. Errors in
 * OpenAI's shape; a stream that breaks ends with `response.failed` (never `response.completed`).
 */
export async function responsesRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { runtime } = ctx;
  const maxMessages = runtime.config.server.maxMessages;
  const scrub = runtime.scrub;

  app.post('/v1/responses', async (req, reply) => {
    ctx.requireScope(req, 'ai');
    const res = reply.raw;
    const client = abortOnClientClose(res);
    let release: (() => void) | undefined;
    try {
      const { chat, echo } = responsesToChat(req.body);
      assertPlainModel(chat.model);
      if (chat.messages.length > maxMessages) {
        throw new ValidationError(
          `"input" holds ${chat.messages.length} messages; at most ${maxMessages} are accepted (server.maxMessages)`,
        );
      }
      const options = callOptions(req, client.signal);
      const ai = runtime.ai;
      if (chat.stream === true) {
        release = holdStream(ctx, req.principal, client);
        const s = await ai.openStream(chat, options);
        reply.hijack();
        const out = new EventWriter(new SseWriter(res, { headers: { ...metaHeaders(s.meta), traceparent: req.traceparent }, cork: true }));
        const translate = new ResponsesStream(chat.model, echo);
        try {
          for await (const chunk of s.chunks) if (!(await out.write(translate.push(chunk)))) return;
          out.end(translate.end());
        } catch (thrown) {
          const err = toTasklaneError(thrown);
          out.end(translate.fail(err.code, scrub(err.message)));
        }
        return;
      }
      const { completion, meta } = await ai.chat(chat, options);
      return reply.headers(headerValues(metaHeaders(meta))).send(chatToResponse(completion, chat.model, echo));
    } catch (err) {
      if (reply.sent || res.headersSent) return;
      return sendError(reply, err, scrub);
    } finally {
      release?.();
      client.done();
    }
  });
}
