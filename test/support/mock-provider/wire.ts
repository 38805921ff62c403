import type { ServerResponse } from 'node:http';
import type { Usage } from './answers.js';

/** How an upstream of each kind writes its answers and errors. */
export type Flavor = 'openai' | 'hf' | 'ollama' | 'anthropic' | 'gemini';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** An error body as each upstream writes it: OpenAI's `{error:{message,type,code}}`, TGI's, Ollama's. */
export function errorBody(
  flavor: Flavor,
  message: string,
  type: string,
  code: string | null,
  extra: Record<string, unknown> = {},
): unknown {
  if (flavor === 'ollama') return { error: message };
  if (flavor === 'hf') return { error: message, error_type: type, ...extra };
  return { error: { message, type, param: null, code } };
}

export interface ChunkMeta {
  id: string;
  created: number;
  model: string;
}

export function openaiChunk(meta: ChunkMeta, delta: Record<string, unknown>, finishReason: string | null, usage?: Usage): string {
  const body = {
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    system_fingerprint: 'fp_mock',
    choices:
      usage && !finishReason && Object.keys(delta).length === 0 ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(usage ? { usage } : {}),
  };
  return `data: ${JSON.stringify(body)}\n\n`;
}

export function openaiCompletion(meta: ChunkMeta, text: string, finishReason: string, usage: Usage): unknown {
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    system_fingerprint: 'fp_mock',
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finishReason }],
    usage,
  };
}

export function ollamaLine(model: string, text: string, done: false): string;
export function ollamaLine(model: string, text: string, done: true, doneReason: string, usage: Usage): string;
export function ollamaLine(model: string, text: string, done: boolean, doneReason?: string, usage?: Usage): string {
  const base = { model, created_at: new Date().toISOString(), message: { role: 'assistant', content: text }, done };
  const tail = done
    ? {
        done_reason: doneReason,
        total_duration: 1_000_000,
        load_duration: 1000,
        prompt_eval_count: usage!.prompt_tokens,
        prompt_eval_duration: 1000,
        eval_count: usage!.completion_tokens,
        eval_duration: 1000,
      }
    : {};
  return `${JSON.stringify({ ...base, ...tail })}\n`;
}
