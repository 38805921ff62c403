import type { FastifyInstance, FastifyReply } from 'fastify';
import { ValidationError } from '../../errors.js';
import { nativeEvents } from '../../ai/raw.js';
import type { ServerContext } from '../context.js';
import { MessagesStream, chatToMessage, messagesToChat } from '../dialects/anthropic-messages.js';
import { EventWriter } from '../dialects/write-events.js';
import { abortOnClientClose, assertPlainModel, holdStream, callOptions, metaHeaders } from './ai.js';
import { headerValues } from '../streams/header-values.js';
import { SseWriter } from '../streams/sse-writer.js';
import { toWire } from '../streams/wire-errors.js';

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
    // The app's error handler answers in Anthropic's shape for this route, auth refusals included.
    { config: { dialect: 'anthropic' } },
    async (req, reply) => {
      ctx.requireScope(req, 'ai');
      const body = messagesToChat(req.body);
      assertPlainModel(body.model);
      if (body.messages.length > maxMessages) {
        throw new ValidationError(
          `"messages" holds ${body.messages.length} messages; at most ${maxMessages} are accepted (server.maxMessages)`,
        );
      }
      const res = reply.raw;
      const client = abortOnClientClose(res);
      const options = callOptions(req, client.signal);
      const ai = runtime.ai;
      let release: (() => void) | undefined;
      try {
        if (body.stream === true) {
          release = holdStream(ctx, req.principal, client);
          const s = await ai.openStream(body, options);
          reply.hijack();
          const out = new EventWriter(
            new SseWriter(res, { headers: { ...metaHeaders(s.meta), traceparent: req.traceparent }, cork: true }),
          );
          const translate = new MessagesStream(body.model);
          try {
            // An Anthropic target answering the caller's own body: its events go back as they
            // came (thinking blocks, signatures, every field), not rebuilt from the chat chunks.
            let native: boolean | undefined;
            let stopped = false;
            for await (const chunk of s.chunks) {
              const events = nativeEvents(chunk);
              native ??= events !== undefined;
              if (!native) {
                if (!(await out.write(translate.push(chunk)))) return;
                continue;
              }
              if (!events) continue;
              if (events.some((e) => e.event === 'message_stop')) stopped = true;
              if (!(await out.writeNative(events))) return;
            }
            // Whole (a stop reason came), but the upstream closed before its message_stop.
            if (native) out.end(stopped ? [] : [{ event: 'message_stop', data: { type: 'message_stop' } }]);
            else out.end(translate.end());
          } catch (thrown) {
            out.end([{ event: 'error', data: toWire(thrown, { dialect: 'anthropic', scrub }).body }]);
          }
          return;
        }
        const { completion, meta } = await ai.chat(body, options);
        return reply.headers(headerValues(metaHeaders(meta))).send(chatToMessage(completion, body.model));
      } catch (err) {
        if (reply.sent || res.headersSent) return;
        return sendAnthropicError(reply, err, scrub);
      } finally {
        release?.();
        client.done();
      }
    },
  );
}

export function sendAnthropicError(reply: FastifyReply, thrown: unknown, scrub: (s: string) => string): FastifyReply {
  const wire = toWire(thrown, { dialect: 'anthropic', scrub });
  return reply.code(wire.status).headers(wire.headers).send(wire.body);
}
