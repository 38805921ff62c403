import type { EventSourceMessage } from 'eventsource-parser';
import { quoteUpstream } from '../http/status.js';
import { providerError, where, type CallContext } from '../http/provider-error.js';
import type { Step } from '../http/stream-driver.js';
import type { JsonTool } from './convert-request.js';
import { convertUsage } from './convert-usage.js';
import { mapStopReason } from './map-stop-reason.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Decodes one call's Messages stream: message_start (id, model, input usage), content blocks
 * (text_delta as text; tool_use and input_json_delta as tool-call pieces, or as text for a forced
 * json tool; thinking is not part of the chat answer), message_delta (stop_reason, output usage),
 * message_stop (the end marker), and `error` events, which break the stream. Never throws.
 */
export function eventDecoder(ctx: CallContext, jsonTool: JsonTool | undefined): (e: EventSourceMessage) => Step[] {
  let inputUsage: Obj | undefined;
  /** Block index → tool call index (or 'json' for the forced tool). */
  const blocks = new Map<number, number | 'json'>();
  let tools = 0;
  return (e) => {
    if (e.data.trim() === '') return [];
    let ev: Obj;
    try {
      const parsed: unknown = JSON.parse(e.data);
      if (!isObj(parsed)) throw new Error('not an object');
      ev = parsed;
    } catch {
      // Dropped and counted; ai.maxMalformedEvents of them end the stream as broken.
      return [{ kind: 'malformed' }];
    }
    switch (ev.type ?? e.event) {
      case 'message_start': {
        const m = isObj(ev.message) ? ev.message : {};
        inputUsage = isObj(m.usage) ? m.usage : undefined;
        return [
          {
            kind: 'start',
            id: typeof m.id === 'string' ? m.id : `msg_${Date.now().toString(36)}`,
            model: typeof m.model === 'string' ? m.model : ctx.model,
            created: Math.floor(Date.now() / 1000),
          },
        ];
      }
      case 'content_block_start': {
        const b = isObj(ev.content_block) ? ev.content_block : {};
        const index = typeof ev.index === 'number' ? ev.index : 0;
        if (b.type === 'text' && typeof b.text === 'string' && b.text) return [{ kind: 'text', text: b.text }];
        if (b.type !== 'tool_use') return [];
        if (jsonTool && b.name === jsonTool.name) {
          blocks.set(index, 'json');
          return [];
        }
        const call = tools++;
        blocks.set(index, call);
        return [{ kind: 'tool-call', index: call, id: String(b.id ?? ''), name: String(b.name ?? ''), arguments: '' }];
      }
      case 'content_block_delta': {
        const d = isObj(ev.delta) ? ev.delta : {};
        if (d.type === 'text_delta' && typeof d.text === 'string') return d.text ? [{ kind: 'text', text: d.text }] : [];
        if (d.type === 'input_json_delta' && typeof d.partial_json === 'string') {
          const block = blocks.get(typeof ev.index === 'number' ? ev.index : 0);
          if (block === 'json') return d.partial_json ? [{ kind: 'text', text: d.partial_json }] : [];
          if (block !== undefined && d.partial_json) return [{ kind: 'tool-call', index: block, arguments: d.partial_json }];
        }
        return [];
      }
      case 'message_delta': {
        const steps: Step[] = [];
        const d = isObj(ev.delta) ? ev.delta : {};
        if (d.stop_reason) steps.push({ kind: 'finish-reason', reason: mapStopReason(d.stop_reason, jsonTool !== undefined) });
        const u = isObj(ev.usage) ? ev.usage : undefined;
        const usage = convertUsage({ ...(inputUsage ?? {}), ...(u ?? {}) });
        if (usage) steps.push({ kind: 'usage', usage });
        return steps;
      }
      case 'message_stop':
        return [{ kind: 'done' }];
      case 'error': {
        const err = isObj(ev.error) ? ev.error : {};
        const message = typeof err.message === 'string' ? err.message : 'an error event';
        return [
          {
            kind: 'error',
            error: providerError(
              'stream_broken',
              ctx,
              `${where(ctx)} reported an error inside the stream (${String(err.type ?? 'error')}): ${quoteUpstream(message, ctx)}`,
            ),
          },
        ];
      }
      default:
        // ping, content_block_stop and event types added later.
        return [];
    }
  };
}
