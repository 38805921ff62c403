// Over 350 lines: request, response and stream translation of one wire format, read and tested together.
/**
 * Anthropic's Messages API (POST /v1/messages) to and from the internal request (OpenAI chat
 * completions), so any provider serves it: system, content blocks (text, image, tool_use,
 * tool_result), tools and tool_choice, stop_reason and usage, and the stream's event sequence.
 * Pure functions and one small state machine; no I/O.
 */
import { ValidationError } from '../../errors.js';
import { NATIVE, NATIVE_ANSWER, type NativeAnswer, type NativeBody } from '../../ai/native.js';
import type { ChatChunk, ChatCompletion, ChatMessage, ChatRequest, Usage } from '../../ai/types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields with no meaning for any other provider: refused rather than silently dropped, unless the target is Anthropic. */
const ACCEPTED = new Set([
  'model',
  'messages',
  'system',
  'max_tokens',
  'temperature',
  'top_p',
  'top_k',
  'stop_sequences',
  'stream',
  'tools',
  'tool_choice',
  'metadata',
  // Anthropic-only: kept for a native target, ignored by translation.
  'thinking',
  'service_tier',
  'container',
  'mcp_servers',
]);

/** The request in our words; the caller's body rides along for an Anthropic target. */
export function messagesToChat(body: unknown): ChatRequest {
  if (!isObj(body)) throw new ValidationError('the body must be a JSON object with "model", "max_tokens" and "messages"');
  for (const k of Object.keys(body))
    if (!ACCEPTED.has(k)) throw new ValidationError(`"${k}" is not supported on /v1/messages`, { details: { field: k } });
  if (typeof body.model !== 'string' || !body.model)
    throw new ValidationError('"model" is required: a model alias or provider/model (see GET /v1/models)', { details: { field: 'model' } });
  if (body.max_tokens !== undefined && (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) <= 0)) {
    throw new ValidationError('"max_tokens" must be a positive whole number', { details: { field: 'max_tokens' } });
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw new ValidationError('"messages" is required: a non-empty array of {role, content}', { details: { field: 'messages' } });
  if (body.stream !== undefined && typeof body.stream !== 'boolean')
    throw new ValidationError('"stream" must be true or false', { details: { field: 'stream' } });

  const messages: ChatMessage[] = [];
  const system = systemText(body.system);
  if (system !== undefined) messages.push({ role: 'system', content: system });
  body.messages.forEach((m, i) => messages.push(...convertMessage(m, i)));

  const req: ChatRequest = { model: body.model, messages };
  if (body.max_tokens !== undefined) req.max_tokens = body.max_tokens as number;
  if (typeof body.temperature === 'number') req.temperature = body.temperature;
  if (typeof body.top_p === 'number') req.top_p = body.top_p;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) req.stop = body.stop_sequences as string[];
  if (body.stream === true) {
    req.stream = true;
    req.stream_options = { include_usage: true };
  }
  const user = isObj(body.metadata) && typeof body.metadata.user_id === 'string' ? body.metadata.user_id : undefined;
  if (user) req.user = user;
  if (body.tools !== undefined) req.tools = convertTools(body.tools);
  if (body.tool_choice !== undefined) {
    const choice = convertToolChoice(body.tool_choice);
    if (choice.tool_choice !== undefined) req.tool_choice = choice.tool_choice;
    if (choice.parallel === false) req.parallel_tool_calls = false;
  }
  const { stream: _stream, ...native } = body;
  const tagged = req as ChatRequest & { [NATIVE]?: NativeBody };
  tagged[NATIVE] = { dialect: 'anthropic', body: native };
  return req;
}

function systemText(system: unknown): string | undefined {
  if (system === undefined || system === null) return undefined;
  if (typeof system === 'string') return system;
  if (Array.isArray(system)) return system.map((b, i) => blockText(b, `system[${i}]`)).join('\n');
  throw new ValidationError('"system" must be a string or an array of text blocks', { details: { field: 'system' } });
}

function blockText(b: unknown, where: string): string {
  if (isObj(b) && b.type === 'text' && typeof b.text === 'string') return b.text;
  throw new ValidationError(`${where} must be a text block {type:"text", text}`, { details: { field: where } });
}

function convertMessage(m: unknown, i: number): ChatMessage[] {
  const where = `messages[${i}]`;
  if (!isObj(m) || (m.role !== 'user' && m.role !== 'assistant'))
    throw new ValidationError(`${where}.role must be "user" or "assistant"`, { details: { field: `${where}.role` } });
  const role = m.role;
  if (typeof m.content === 'string') return [{ role, content: m.content }];
  if (!Array.isArray(m.content))
    throw new ValidationError(`${where}.content must be a string or an array of content blocks`, {
      details: { field: `${where}.content` },
    });
  const out: ChatMessage[] = [];
  const parts: Array<{ type: string; text?: string; [k: string]: unknown }> = [];
  const calls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  m.content.forEach((b, j) => {
    const at = `${where}.content[${j}]`;
    if (!isObj(b) || typeof b.type !== 'string')
      throw new ValidationError(`${at} must be a content block with a "type"`, { details: { field: at } });
    switch (b.type) {
      case 'text':
        if (typeof b.text !== 'string') throw new ValidationError(`${at}.text must be a string`, { details: { field: `${at}.text` } });
        parts.push({ type: 'text', text: b.text });
        break;
      case 'image': {
        const src = isObj(b.source) ? b.source : {};
        let url: string | undefined;
        if (src.type === 'base64' && typeof src.media_type === 'string' && typeof src.data === 'string')
          url = `data:${src.media_type};base64,${src.data}`;
        else if (src.type === 'url' && typeof src.url === 'string') url = src.url;
        if (!url)
          throw new ValidationError(`${at}.source must be {type:"base64", media_type, data} or {type:"url", url}`, {
            details: { field: `${at}.source` },
          });
        parts.push({ type: 'image_url', image_url: { url } });
        break;
      }
      case 'tool_use':
        if (role !== 'assistant' || typeof b.id !== 'string' || typeof b.name !== 'string') {
          throw new ValidationError(`${at}: a tool_use block belongs to an assistant turn and needs "id" and "name"`, {
            details: { field: at },
          });
        }
        calls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } });
        break;
      case 'tool_result': {
        if (typeof b.tool_use_id !== 'string')
          throw new ValidationError(`${at}.tool_use_id is required`, { details: { field: `${at}.tool_use_id` } });
        const content =
          typeof b.content === 'string'
            ? b.content
            : Array.isArray(b.content)
              ? b.content.map((c) => (isObj(c) && typeof c.text === 'string' ? c.text : '')).join('')
              : '';
        out.push({ role: 'tool', tool_call_id: b.tool_use_id, content: b.is_error === true ? `Error: ${content}` : content });
        break;
      }
      case 'thinking':
      case 'redacted_thinking':
        // Only an Anthropic target understands these; it gets them through the native body.
        break;
      default:
        throw new ValidationError(`${at}.type "${b.type}" is not supported (text, image, tool_use, tool_result, thinking)`, {
          details: { field: `${at}.type` },
        });
    }
  });
  if (parts.length > 0 || calls.length > 0) {
    const onlyText = parts.every((p) => p.type === 'text');
    const content = parts.length === 0 ? null : onlyText ? parts.map((p) => p.text).join('') : parts;
    const msg: ChatMessage = { role, content };
    if (calls.length > 0) msg.tool_calls = calls;
    // Tool results answer the turn before, so they come first; the user's text follows them.
    out.push(msg);
  }
  return out;
}

function convertTools(tools: unknown): unknown[] {
  if (!Array.isArray(tools)) throw new ValidationError('"tools" must be an array', { details: { field: 'tools' } });
  return tools.map((t, i) => {
    if (!isObj(t) || typeof t.name !== 'string')
      throw new ValidationError(`tools[${i}] needs a "name"`, { details: { field: `tools[${i}]` } });
    if (t.type !== undefined && t.type !== 'custom')
      throw new ValidationError(`tools[${i}].type "${String(t.type)}" (a server tool) is not supported; only custom tools are`, {
        details: { field: `tools[${i}].type` },
      });
    return {
      type: 'function',
      function: {
        name: t.name,
        ...(typeof t.description === 'string' ? { description: t.description } : {}),
        parameters: isObj(t.input_schema) ? t.input_schema : { type: 'object' },
      },
    };
  });
}

function convertToolChoice(choice: unknown): { tool_choice?: unknown; parallel?: boolean } {
  if (!isObj(choice))
    throw new ValidationError('"tool_choice" must be an object like {"type": "auto"}', { details: { field: 'tool_choice' } });
  const parallel = choice.disable_parallel_tool_use === true ? false : undefined;
  switch (choice.type) {
    case 'auto':
      return { tool_choice: 'auto', ...(parallel === false ? { parallel } : {}) };
    case 'any':
      return { tool_choice: 'required', ...(parallel === false ? { parallel } : {}) };
    case 'none':
      return { tool_choice: 'none' };
    case 'tool':
      if (typeof choice.name !== 'string')
        throw new ValidationError('"tool_choice" of type "tool" needs a "name"', { details: { field: 'tool_choice.name' } });
      return { tool_choice: { type: 'function', function: { name: choice.name } }, ...(parallel === false ? { parallel } : {}) };
    default:
      throw new ValidationError('"tool_choice".type must be auto, any, tool or none', { details: { field: 'tool_choice.type' } });
  }
}

/** OpenAI's finish reasons in Anthropic's words. */
export function stopReason(finish: string | null | undefined): string {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

function parseInput(args: string): unknown {
  try {
    const v: unknown = JSON.parse(args || '{}');
    return isObj(v) ? v : { value: v };
  } catch {
    return {};
  }
}

export function anthropicUsage(u: Usage | undefined, extra?: Record<string, unknown>): Record<string, unknown> {
  return {
    input_tokens: u?.prompt_tokens ?? 0,
    output_tokens: u?.completion_tokens ?? 0,
    ...(extra ?? {}),
    // tasklane's own field (DESIGN "Cost"): unrounded USD when the model has a price.
    ...(u?.cost !== undefined ? { cost: u.cost } : {}),
  };
}

/** A whole completion as an Anthropic message; an Anthropic target's own blocks are handed back as sent. */
export function chatToMessage(c: ChatCompletion, model: string): Record<string, unknown> {
  const choice = c.choices[0];
  const message = (choice?.message ?? { role: 'assistant', content: null }) as ChatCompletion['choices'][number]['message'] & {
    [NATIVE_ANSWER]?: NativeAnswer;
  };
  const native = message[NATIVE_ANSWER];
  const id = c.id.startsWith('msg_') ? c.id : `msg_${c.id.replace(/^chatcmpl-/, '')}`;
  if (native?.dialect === 'anthropic') {
    return {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: native.content,
      stop_reason: native.stop_reason ?? stopReason(choice?.finish_reason),
      stop_sequence: native.stop_sequence ?? null,
      usage: native.usage ? { ...native.usage, ...(c.usage?.cost !== undefined ? { cost: c.usage.cost } : {}) } : anthropicUsage(c.usage),
    };
  }
  const content: unknown[] = [];
  if (typeof message.content === 'string' && message.content.length > 0) content.push({ type: 'text', text: message.content });
  const calls = (message as { tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }> }).tool_calls;
  if (Array.isArray(calls))
    for (const call of calls)
      content.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseInput(call.function.arguments) });
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason(choice?.finish_reason),
    stop_sequence: null,
    usage: anthropicUsage(c.usage),
  };
}

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/**
 * The stream's chunks as Anthropic's events: message_start, then per block content_block_start /
 * content_block_delta (text_delta, input_json_delta) / content_block_stop, then message_delta
 * (stop_reason, usage) and message_stop once the stream ended whole. `end()` is called only then.
 */
export class MessagesStream {
  readonly #model: string;
  #started = false;
  #block = -1;
  #open: 'text' | 'tool' | undefined;
  /** OpenAI tool call index → our block index. */
  readonly #toolBlocks = new Map<number, number>();
  #finish: string | null = null;
  #usage: Usage | undefined;

  constructor(model: string) {
    this.#model = model;
  }

  push(chunk: ChatChunk): SseEvent[] {
    const out: SseEvent[] = [];
    if (!this.#started) {
      this.#started = true;
      const id = chunk.id.startsWith('msg_') ? chunk.id : `msg_${chunk.id.replace(/^chatcmpl-/, '')}`;
      out.push({
        event: 'message_start',
        data: {
          type: 'message_start',
          message: {
            id,
            type: 'message',
            role: 'assistant',
            model: this.#model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: 0, output_tokens: 0 },
          },
        },
      });
    }
    if (chunk.usage) this.#usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) return out;
    const text = choice.delta.content;
    if (typeof text === 'string' && text.length > 0) {
      if (this.#open !== 'text') {
        this.#close(out);
        this.#block++;
        this.#open = 'text';
        out.push({
          event: 'content_block_start',
          data: { type: 'content_block_start', index: this.#block, content_block: { type: 'text', text: '' } },
        });
      }
      out.push({
        event: 'content_block_delta',
        data: { type: 'content_block_delta', index: this.#block, delta: { type: 'text_delta', text } },
      });
    }
    const calls = (choice.delta as { tool_calls?: Array<{ index: number; id?: string; function?: { name?: string; arguments?: string } }> })
      .tool_calls;
    if (Array.isArray(calls)) {
      for (const call of calls) {
        let index = this.#toolBlocks.get(call.index);
        if (index === undefined) {
          this.#close(out);
          this.#block++;
          index = this.#block;
          this.#toolBlocks.set(call.index, index);
          this.#open = 'tool';
          out.push({
            event: 'content_block_start',
            data: {
              type: 'content_block_start',
              index,
              content_block: { type: 'tool_use', id: call.id ?? `toolu_${index}`, name: call.function?.name ?? '', input: {} },
            },
          });
        }
        const args = call.function?.arguments;
        if (args)
          out.push({
            event: 'content_block_delta',
            data: { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: args } },
          });
      }
    }
    if (choice.finish_reason) this.#finish = choice.finish_reason;
    return out;
  }

  /** The closing events of a stream that ended whole. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    this.#close(out);
    const usage = this.#usage;
    out.push({
      event: 'message_delta',
      data: {
        type: 'message_delta',
        delta: { stop_reason: stopReason(this.#finish), stop_sequence: null },
        usage: {
          output_tokens: usage?.completion_tokens ?? 0,
          ...(usage ? { input_tokens: usage.prompt_tokens } : {}),
          ...(usage?.cost !== undefined ? { cost: usage.cost } : {}),
        },
      },
    });
    out.push({ event: 'message_stop', data: { type: 'message_stop' } });
    return out;
  }

  #close(out: SseEvent[]): void {
    if (this.#open === undefined) return;
    out.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index: this.#block } });
    this.#open = undefined;
  }
}

/** Anthropic's error types by HTTP status (kept with the other wire shapes). */
export { anthropicErrorType } from '../streams/wire-errors.js';
