import { NATIVE_ANSWER, type NativeAnswer } from '../../native.js';
import type { ChatCompletion } from '../../types.js';
import { convertUsage } from './convert-usage.js';
import type { JsonTool } from './convert-request.js';
import { mapStopReason } from './map-stop-reason.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * An Anthropic message as a chat completion: text blocks joined, tool_use blocks as tool calls (a
 * forced json tool's input as the text), thinking kept as `reasoning_content`. For a native
 * caller the blocks ride along as sent (thinking and its signature included).
 */
export function convertResponse(
  body: unknown,
  fallbackModel: string,
  jsonTool: JsonTool | undefined,
  native: boolean,
): ChatCompletion | undefined {
  if (!isObj(body) || !Array.isArray(body.content)) return undefined;
  let text = '';
  let reasoning = '';
  const calls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  for (const b of body.content) {
    if (!isObj(b)) continue;
    if (b.type === 'text' && typeof b.text === 'string') text += b.text;
    else if (b.type === 'thinking' && typeof b.thinking === 'string') reasoning += b.thinking;
    else if (b.type === 'tool_use') {
      if (jsonTool && b.name === jsonTool.name) text += JSON.stringify(b.input ?? {});
      else
        calls.push({
          id: String(b.id ?? ''),
          type: 'function',
          function: { name: String(b.name ?? ''), arguments: JSON.stringify(b.input ?? {}) },
        });
    }
  }
  const usage = convertUsage(isObj(body.usage) ? body.usage : undefined);
  const message: ChatCompletion['choices'][number]['message'] = {
    role: 'assistant',
    content: calls.length > 0 && text === '' ? null : text,
  };
  if (calls.length > 0) message.tool_calls = calls;
  if (reasoning) message.reasoning_content = reasoning;
  if (native) {
    const answer: NativeAnswer = {
      dialect: 'anthropic',
      content: body.content,
      ...(isObj(body.usage) ? { usage: body.usage } : {}),
      stop_reason: typeof body.stop_reason === 'string' ? body.stop_reason : null,
      stop_sequence: typeof body.stop_sequence === 'string' ? body.stop_sequence : null,
    };
    message[NATIVE_ANSWER] = answer;
  }
  return {
    id: typeof body.id === 'string' ? body.id : `msg_${Date.now().toString(36)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: typeof body.model === 'string' ? body.model : fallbackModel,
    choices: [{ index: 0, message, finish_reason: mapStopReason(body.stop_reason, jsonTool !== undefined) }],
    ...(usage ? { usage } : {}),
  };
}
