import type { ChatMessage, ChatRequest } from '../../types.js';

/** Fields that belong to the gateway, not to the upstream. */
const OURS = new Set(['stream', 'stream_options']);

/**
 * The upstream body: the request as is (unknown fields pass through, as OpenAI-compatible servers
 * take vendor options), streaming asked for with usage, and a prefill as the trailing assistant
 * message the model continues.
 */
export function convertRequest(request: ChatRequest, options: { stream: boolean; prefill?: string }): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(request)) if (!OURS.has(k) && v !== undefined) body[k] = v;
  const messages: ChatMessage[] = [...request.messages];
  if (options.prefill !== undefined) messages.push({ role: 'assistant', content: options.prefill });
  body.messages = messages;
  body.stream = options.stream;
  if (options.stream) body.stream_options = { include_usage: true };
  return body;
}
