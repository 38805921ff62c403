import { ValidationError } from '../errors.js';
import type { ChatRequest } from './types.js';

const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'developer']);

/**
 * Checks the fields tasklane relies on (model, messages, stream flags); the rest is passed to the
 * provider as is. Hand-written because it runs on every request.
 */
export function validateChatRequest(body: unknown): ChatRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ValidationError('the body must be a JSON object with "model" and "messages"');
  const req = body as Record<string, unknown>;
  if (typeof req.model !== 'string' || req.model.length === 0)
    throw new ValidationError('"model" is required: a model alias or provider/model (see GET /v1/models)');
  const messages = req.messages;
  if (!Array.isArray(messages) || messages.length === 0)
    throw new ValidationError('"messages" is required: a non-empty array of {role, content}');
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Record<string, unknown> | null;
    if (typeof m !== 'object' || m === null) throw new ValidationError(`messages[${i}] must be an object {role, content}`);
    if (typeof m.role !== 'string' || !ROLES.has(m.role))
      throw new ValidationError(`messages[${i}].role must be one of ${[...ROLES].join(', ')}`);
    const c = m.content;
    if (c !== null && c !== undefined && typeof c !== 'string' && !Array.isArray(c))
      throw new ValidationError(`messages[${i}].content must be a string, an array of parts or null`);
  }
  if (req.stream !== undefined && typeof req.stream !== 'boolean') throw new ValidationError('"stream" must be true or false');
  const so = req.stream_options;
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so)))
    throw new ValidationError('"stream_options" must be an object like {"include_usage": true}');
  return req as ChatRequest;
}
