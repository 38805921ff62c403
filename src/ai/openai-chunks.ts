import { usageChunk, type ToolCall } from './stream-flight.js';
import type { ChatChunk, ChatCompletion, ChatRequest } from './types.js';

/**
 * OpenAI chat-completion chunks put together and taken apart, without any I/O: the request as the
 * upstream sees it, tool-call pieces, chunks, the message a stream amounts to, a cached answer
 * replayed as a stream. Unit-tested in test/ai/openai-chunks.test.ts without sockets.
 */

/** The request as the provider sees it: its own model id; streams always ask for usage (for metrics). */
export function upstreamRequest(req: ChatRequest, model: string, stream: boolean): ChatRequest {
  const out: ChatRequest = { ...req, model, stream };
  if (stream) out.stream_options = { include_usage: true };
  else delete out.stream_options;
  return out;
}

/** Adds a tool call piece to the calls put together so far; returns the piece as a chunk delta carries it. */
export function addToolCallPiece(
  calls: ToolCall[],
  p: { index: number; id?: string; name?: string; arguments?: string },
): Record<string, unknown> {
  const call = (calls[p.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
  if (p.id) call.id = p.id;
  if (p.name) call.function.name += p.name;
  if (p.arguments) call.function.arguments += p.arguments;
  const fn: Record<string, string> = {};
  if (p.name !== undefined) fn.name = p.name;
  if (p.arguments !== undefined) fn.arguments = p.arguments;
  return { index: p.index, ...(p.id ? { id: p.id, type: 'function' } : {}), function: fn };
}

/** The message a finished stream amounts to (for the cache): its text and its tool calls. */
export function streamedMessage(text: string, toolCalls: ToolCall[]): ChatCompletion['choices'][number]['message'] {
  const calls = toolCalls.filter(Boolean);
  if (calls.length === 0) return { role: 'assistant', content: text };
  return { role: 'assistant', content: text === '' ? null : text, tool_calls: calls };
}

/** One OpenAI chunk of the first choice. */
export function chunk(
  id: string,
  created: number,
  model: string,
  delta: ChatChunk['choices'][number]['delta'],
  finishReason: string | null,
): ChatChunk {
  return { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finishReason }] };
}

/** A cached answer played back as a stream: the text, the finish, the usage when asked. */
export async function* replay(c: ChatCompletion, includeUsage: boolean): AsyncGenerator<ChatChunk, void, undefined> {
  const choice = c.choices[0];
  const calls = (choice?.message as { tool_calls?: ToolCall[] } | undefined)?.tool_calls;
  const first = chunk(c.id, c.created, c.model, { role: 'assistant', content: choice?.message.content ?? '' }, null);
  yield first;
  if (Array.isArray(calls) && calls.length > 0) {
    yield chunk(
      c.id,
      c.created,
      c.model,
      {
        tool_calls: calls.map((call, index) => ({
          index,
          id: call.id,
          type: 'function',
          function: { name: call.function.name, arguments: call.function.arguments },
        })),
      },
      null,
    );
  }
  yield chunk(c.id, c.created, c.model, {}, choice?.finish_reason ?? 'stop');
  if (includeUsage && c.usage) yield usageChunk(first, c.usage);
}
