import type { FastifyInstance } from 'fastify';
import { validateEmbeddingRequest, vectorToBase64 } from '../../ai/embed.js';
import type { ServerContext } from '../context.js';
import { abortOnClientClose, assertPlainModel, callOptions, metaHeaders, sendError } from './ai.js';
import { headerValues } from '../streams/header-values.js';

/**
 * POST /v1/embeddings in OpenAI's shape: a string or an array of strings, `dimensions`,
 * `encoding_format` float or base64 (little-endian float32, as the openai client decodes it).
 * Routed, retried, failed over and cached like chat; errors in OpenAI's shape.
 */
export async function embeddingsRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { runtime } = ctx;
  app.post('/v1/embeddings', async (req, reply) => {
    ctx.requireScope(req, 'ai');
    const res = reply.raw;
    const client = abortOnClientClose(res);
    try {
      const body = validateEmbeddingRequest(req.body);
      assertPlainModel(body.model);
      const { response, meta } = await runtime.ai.embed(body, callOptions(req, client.signal));
      reply.headers(headerValues(metaHeaders(meta)));
      if (body.encoding_format !== 'base64') return reply.send(response);
      return reply.send({ ...response, data: response.data.map((d) => ({ ...d, embedding: vectorToBase64(d.embedding) })) });
    } catch (err) {
      if (reply.sent || res.headersSent) return;
      return sendError(reply, err, runtime.scrub);
    } finally {
      client.done();
    }
  });
}
