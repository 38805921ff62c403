/**
 * How the mock writes Anthropic's Messages API and Google's Gemini API, from their public
 * references: whole answers, SSE streams and error bodies.
 */
import type { Usage, WireMessage } from './answers.js';
import type { ChunkMeta } from './wire.js';

const ANTHROPIC_ERROR: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};
const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

export function anthropicError(status: number, message: string): unknown {
  return { type: 'error', error: { type: ANTHROPIC_ERROR[status] ?? 'api_error', message } };
}

export function geminiError(status: number, message: string, retryDelaySeconds?: number): unknown {
  const details =
    retryDelaySeconds === undefined ? [] : [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryDelaySeconds}s` }];
  return { error: { code: status, message, status: GOOGLE_STATUS[status] ?? 'UNKNOWN', ...(details.length ? { details } : {}) } };
}

/** Gemini's contents as the mock's messages (model turns are assistant turns). */
export function geminiMessages(body: any): WireMessage[] {
  const contents: any[] = Array.isArray(body?.contents) ? body.contents : [];
  return contents.map((c) => ({ role: c?.role === 'model' ? 'assistant' : 'user', content: Array.isArray(c?.parts) ? c.parts : [] }));
}

const STOP: Record<string, string> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', content_filter: 'refusal' };
const GEMINI_FINISH: Record<string, string> = { stop: 'STOP', length: 'MAX_TOKENS', content_filter: 'SAFETY', tool_calls: 'STOP' };

export function anthropicMessage(meta: ChunkMeta, text: string, finishReason: string, usage: Usage): unknown {
  return {
    id: meta.id.replace('chatcmpl-', 'msg_'),
    type: 'message',
    role: 'assistant',
    model: meta.model,
    content: text ? [{ type: 'text', text }] : [],
    stop_reason: STOP[finishReason] ?? finishReason,
    stop_sequence: null,
    usage: { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens },
  };
}

export const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export function anthropicStart(meta: ChunkMeta, usage: Usage): string {
  return (
    sse('message_start', {
      type: 'message_start',
      message: {
        id: meta.id.replace('chatcmpl-', 'msg_'),
        type: 'message',
        role: 'assistant',
        model: meta.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage.prompt_tokens, output_tokens: 1 },
      },
    }) +
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
    sse('ping', { type: 'ping' })
  );
}

export const anthropicDelta = (text: string) =>
  sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });

export function anthropicFinish(finishReason: string, usage: Usage): string {
  return (
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }) +
    sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: STOP[finishReason] ?? finishReason, stop_sequence: null },
      usage: { output_tokens: usage.completion_tokens },
    })
  );
}

export const anthropicStop = () => sse('message_stop', { type: 'message_stop' });

export function geminiResponse(
  meta: ChunkMeta,
  text: string | undefined,
  finishReason: string | undefined,
  usage: Usage | undefined,
): unknown {
  return {
    candidates: [
      {
        content: { parts: text === undefined ? [] : [{ text }], role: 'model' },
        ...(finishReason ? { finishReason: GEMINI_FINISH[finishReason] ?? finishReason } : {}),
        index: 0,
      },
    ],
    ...(usage
      ? {
          usageMetadata: {
            promptTokenCount: usage.prompt_tokens,
            candidatesTokenCount: usage.completion_tokens,
            totalTokenCount: usage.total_tokens,
          },
        }
      : {}),
    modelVersion: meta.model,
    responseId: meta.id.replace('chatcmpl-', ''),
  };
}

export const geminiChunk = (meta: ChunkMeta, text: string | undefined, finishReason?: string, usage?: Usage) =>
  `data: ${JSON.stringify(geminiResponse(meta, text, finishReason, usage))}\r\n\r\n`;
