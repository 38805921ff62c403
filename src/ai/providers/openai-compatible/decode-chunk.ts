import type { EventSourceMessage } from 'eventsource-parser';
import { providerError, where, type CallContext } from '../http/provider-error.js';
import { kindForStatus, quoteUpstream } from '../http/status.js';
import type { Step } from '../http/stream-driver.js';
import { convertUsage } from './convert-usage.js';
import { mapFinishReason } from './map-finish-reason.js';
import { parseErrorBody } from './parse-error.js';
import { isObject, type WireChunk } from './wire-types.js';

/** One SSE event of an OpenAI-compatible stream → steps. Never throws. */
export function decodeChunk(event: EventSourceMessage, ctx: CallContext): Step[] {
  const data = event.data.trim();
  if (data === '[DONE]') return [{ kind: 'done' }];
  if (data === '') return [];
  let chunk: WireChunk;
  try {
    const parsed: unknown = JSON.parse(data);
    if (!isObject(parsed)) throw new Error('not an object');
    chunk = parsed as WireChunk;
  } catch {
    // One bad event is skipped, not the end of the stream (the orchestrator counts them).
    return [{ kind: 'malformed' }];
  }
  if (chunk.error !== undefined && chunk.error !== null) {
    const info = parseErrorBody(data);
    const kind = kindForStatus(Number((isObject(chunk.error) && Number(chunk.error.code)) || 500), info);
    // A failure after the answer started is a broken stream, whatever its cause upstream.
    const asKind = kind === 'content_filter' ? kind : 'stream_broken';
    return [
      {
        kind: 'error',
        error: providerError(
          asKind,
          ctx,
          `${where(ctx)} reported an error inside the stream${info.message ? `: ${quoteUpstream(info.message, ctx)}` : ''}`,
        ),
      },
    ];
  }
  const steps: Step[] = [];
  if (typeof chunk.id === 'string' || typeof chunk.model === 'string') {
    steps.push({
      kind: 'start',
      id: typeof chunk.id === 'string' ? chunk.id : `chatcmpl-${Date.now().toString(36)}`,
      model: typeof chunk.model === 'string' ? chunk.model : ctx.model,
      created: typeof chunk.created === 'number' ? chunk.created : Math.floor(Date.now() / 1000),
    });
  }
  const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
  const choice = choices.find((c) => (c?.index ?? 0) === 0);
  const text = choice?.delta?.content;
  if (typeof text === 'string' && text.length > 0) steps.push({ kind: 'text', text });
  const calls = choice?.delta?.tool_calls;
  if (Array.isArray(calls)) {
    for (const c of calls) {
      if (!isObject(c)) continue;
      const fn = isObject(c.function) ? c.function : {};
      steps.push({
        kind: 'tool-call',
        index: typeof c.index === 'number' ? c.index : 0,
        ...(typeof c.id === 'string' ? { id: c.id } : {}),
        ...(typeof fn.name === 'string' ? { name: fn.name } : {}),
        ...(typeof fn.arguments === 'string' ? { arguments: fn.arguments } : {}),
      });
    }
  }
  if (choice?.finish_reason) steps.push({ kind: 'finish-reason', reason: mapFinishReason(choice.finish_reason) });
  const usage = convertUsage(chunk.usage);
  if (usage) steps.push({ kind: 'usage', usage });
  else if (!choice?.finish_reason && choices.length === 1 && chunk.model === ctx.model) markRaw(steps, chunk, data);
  return steps;
}

/**
 * An event that carries one piece of content and nothing else (no finish, no usage, one choice,
 * the model asked for) means exactly the chunk we would write: it may go out as its own bytes.
 */
function markRaw(steps: Step[], chunk: WireChunk, data: string): void {
  if (typeof chunk.id !== 'string' || typeof chunk.created !== 'number') return;
  const content = steps.length > 0 && steps[0]!.kind === 'start' ? 1 : 0;
  if (steps.length !== content + 1) return;
  const step = steps[content]!;
  if (step.kind === 'text' || step.kind === 'tool-call') step.raw = { json: data, id: chunk.id, created: chunk.created };
}
