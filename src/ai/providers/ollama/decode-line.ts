import { providerError, where, type CallContext } from '../http/provider-error.js';
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

/** One NDJSON line of /api/chat → steps. Never throws. */
export function decodeLine(text: string, ctx: CallContext, id: string): Step[] {
  let line: OllamaChatLine;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isObject(parsed)) throw new Error('not an object');
    line = parsed as OllamaChatLine;
  } catch {
    return [{ kind: 'error', error: providerError('malformed', ctx, `${where(ctx)} sent a stream line that is not JSON`) }];
  }
  if (typeof line.error === 'string') {
    return [{ kind: 'error', error: providerError('stream_broken', ctx, `${where(ctx)} reported an error inside the stream: ${line.error.slice(0, 300)}`) }];
  }
  const steps: Step[] = [{ kind: 'start', id, model: line.model ?? ctx.model, created: createdOf(line) }];
  const content = line.message?.content;
  if (typeof content === 'string' && content.length > 0) steps.push({ kind: 'text', text: content });
  if (line.done === true) {
    steps.push({ kind: 'finish-reason', reason: mapFinishReason(line.done_reason) });
    const usage = convertUsage(line);
    if (usage) steps.push({ kind: 'usage', usage });
    steps.push({ kind: 'done' });
  }
  return steps;
}
