import { providerError, where, type CallContext } from '../http/provider-error.js';
import { quoteUpstream } from '../http/status.js';
import type { Step } from '../http/stream-driver.js';
import { convertUsage } from './convert-usage.js';
import { mapFinishReason } from './map-finish-reason.js';
import type { OllamaChatLine } from './wire-types.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The id Ollama does not give: made from the call's start, stable across its lines. */
export function ollamaId(): string {
  return `chatcmpl-ollama-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

export const createdOf = (line: OllamaChatLine): number => {
  const at = line.created_at ? Date.parse(line.created_at) : NaN;
  return Math.floor((Number.isNaN(at) ? Date.now() : at) / 1000);
};

/** Tool calls already seen per call: Ollama sends each whole, without an index or an id. */
const toolCallsSeen = new WeakMap<CallContext, number>();

/** Ollama's tool calls in OpenAI's shape: arguments as a JSON string, an id made up. */
export function ollamaToolCalls(calls: unknown, first = 0): Array<{ index: number; id: string; name: string; arguments: string }> {
  if (!Array.isArray(calls)) return [];
  return calls.filter(isObject).map((c, i) => {
    const fn = isObject(c.function) ? c.function : {};
    const args = fn.arguments;
    return {
      index: first + i,
      id: `call_${first + i}_${Math.random().toString(36).slice(2, 10)}`,
      name: typeof fn.name === 'string' ? fn.name : '',
      arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}),
    };
  });
}

/** One NDJSON line of /api/chat → steps. Never throws. */
export function decodeLine(text: string, ctx: CallContext, id: string): Step[] {
  let line: OllamaChatLine;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isObject(parsed)) throw new Error('not an object');
    line = parsed as OllamaChatLine;
  } catch {
    // One bad line is skipped, not the end of the stream (the orchestrator counts them).
    return [{ kind: 'malformed' }];
  }
  if (typeof line.error === 'string') {
    return [
      {
        kind: 'error',
        error: providerError('stream_broken', ctx, `${where(ctx)} reported an error inside the stream: ${quoteUpstream(line.error, ctx)}`),
      },
    ];
  }
  const steps: Step[] = [{ kind: 'start', id, model: line.model ?? ctx.model, created: createdOf(line) }];
  const content = line.message?.content;
  if (typeof content === 'string' && content.length > 0) steps.push({ kind: 'text', text: content });
  const seen = toolCallsSeen.get(ctx) ?? 0;
  const calls = ollamaToolCalls(line.message?.tool_calls, seen);
  if (calls.length > 0) {
    toolCallsSeen.set(ctx, seen + calls.length);
    for (const c of calls) steps.push({ kind: 'tool-call', ...c });
  }
  if (line.done === true) {
    // Ollama ends a tool-calling answer with done_reason "stop"; OpenAI clients look for "tool_calls".
    const reason = mapFinishReason(line.done_reason);
    steps.push({ kind: 'finish-reason', reason: (toolCallsSeen.get(ctx) ?? 0) > 0 && reason === 'stop' ? 'tool_calls' : reason });
    const usage = convertUsage(line);
    if (usage) steps.push({ kind: 'usage', usage });
    steps.push({ kind: 'done' });
  }
  return steps;
}
