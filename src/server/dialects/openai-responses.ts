// Over 350 lines: request, response and stream translation of one wire format, read and tested together.
/**
 * The stateless part of OpenAI's Responses API (POST /v1/responses) to and from the internal
 * request: input as a string or items (messages, function calls and their outputs), instructions,
 * function tools, `text.format` (json_object, json_schema), and the stream's events. State —
 * `previous_response_id`, `store: true`, conversations — is refused with a 400 naming the field.
 * Pure functions and one small state machine; no I/O.
 */
import { randomBytes } from 'node:crypto';
import { ValidationError } from '../../errors.js';
import type { ChatChunk, ChatCompletion, ChatMessage, ChatRequest, Usage } from '../../ai/types.js';
import type { SseEvent } from './anthropic-messages.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (field: string, message: string) => new ValidationError(message, { details: { field } });

/** Fields that need state kept between requests, which a stateless gateway does not have. */
const STATEFUL: Record<string, string> = {
  previous_response_id:
    '"previous_response_id" needs stored responses, which this gateway does not keep: send the whole conversation in "input"',
  conversation: '"conversation" needs stored conversations, which this gateway does not keep: send the whole conversation in "input"',
  background: '"background" runs need stored responses, which this gateway does not keep',
  prompt: '"prompt" templates are stored on OpenAI, not here: send "instructions" and "input"',
};

const ACCEPTED = new Set([
  'model',
  'input',
  'instructions',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'text',
  'temperature',
  'top_p',
  'max_output_tokens',
  'stream',
  'store',
  'metadata',
  'user',
  'reasoning',
  'include',
  'truncation',
  'service_tier',
  'seed',
  'stream_options',
]);

export interface ResponsesRequest {
  chat: ChatRequest;
  /** Echoed in the response object, as OpenAI does. */
  echo: Obj;
}

export function responsesToChat(body: unknown): ResponsesRequest {
  if (!isObj(body)) throw bad('body', 'the body must be a JSON object with "model" and "input"');
  for (const [field, message] of Object.entries(STATEFUL)) if (body[field] !== undefined && body[field] !== null) throw bad(field, message);
  if (body.store === true)
    throw bad('store', '"store": true is not supported: this gateway keeps no responses (send "store": false or leave it out)');
  for (const k of Object.keys(body)) if (!ACCEPTED.has(k)) throw bad(k, `"${k}" is not supported on /v1/responses`);
  if (typeof body.model !== 'string' || !body.model)
    throw bad('model', '"model" is required: a model alias or provider/model (see GET /v1/models)');
  if (body.stream !== undefined && typeof body.stream !== 'boolean') throw bad('stream', '"stream" must be true or false');

  const messages: ChatMessage[] = [];
  if (body.instructions !== undefined && body.instructions !== null) {
    if (typeof body.instructions !== 'string') throw bad('instructions', '"instructions" must be a string');
    messages.push({ role: 'system', content: body.instructions });
  }
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else if (Array.isArray(body.input) && body.input.length > 0) convertItems(body.input, messages);
  else throw bad('input', '"input" is required: a string or a non-empty array of items');

  const chat: ChatRequest = { model: body.model, messages };
  if (typeof body.temperature === 'number') chat.temperature = body.temperature;
  if (typeof body.top_p === 'number') chat.top_p = body.top_p;
  if (typeof body.seed === 'number') chat.seed = body.seed;
  if (body.max_output_tokens !== undefined && body.max_output_tokens !== null) {
    if (!Number.isInteger(body.max_output_tokens) || (body.max_output_tokens as number) <= 0)
      throw bad('max_output_tokens', '"max_output_tokens" must be a positive whole number');
    chat.max_tokens = body.max_output_tokens as number;
  }
  if (typeof body.user === 'string') chat.user = body.user;
  if (typeof body.parallel_tool_calls === 'boolean') chat.parallel_tool_calls = body.parallel_tool_calls;
  if (isObj(body.reasoning) && typeof body.reasoning.effort === 'string') chat.reasoning_effort = body.reasoning.effort;
  if (body.tools !== undefined) chat.tools = convertTools(body.tools);
  if (body.tool_choice !== undefined) chat.tool_choice = convertToolChoice(body.tool_choice);
  const format = isObj(body.text) ? body.text.format : undefined;
  if (format !== undefined) {
    const rf = convertFormat(format);
    if (rf) chat.response_format = rf;
  }
  if (body.stream === true) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  const echo: Obj = {
    instructions: body.instructions ?? null,
    tools: Array.isArray(body.tools) ? body.tools : [],
    tool_choice: body.tool_choice ?? 'auto',
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    text: isObj(body.text) ? body.text : { format: { type: 'text' } },
    temperature: body.temperature ?? null,
    top_p: body.top_p ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: isObj(body.metadata) ? body.metadata : {},
    user: body.user ?? null,
    reasoning: isObj(body.reasoning) ? body.reasoning : null,
  };
  return { chat, echo };
}

function textOfParts(content: unknown, where: string): string | Array<{ type: string; text?: string; [k: string]: unknown }> {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw bad(`${where}.content`, `${where}.content must be a string or an array of parts`);
  const parts = content.map((p, i) => {
    const at = `${where}.content[${i}]`;
    if (!isObj(p)) throw bad(at, `${at} must be a part object`);
    if ((p.type === 'input_text' || p.type === 'output_text' || p.type === 'text') && typeof p.text === 'string')
      return { type: 'text', text: p.text };
    if (p.type === 'refusal' && typeof p.refusal === 'string') return { type: 'text', text: p.refusal };
    if (p.type === 'input_image') {
      if (typeof p.image_url !== 'string')
        throw bad(`${at}.image_url`, `${at}: an input_image needs "image_url" (a URL or a data URL); file ids are not supported`);
      return { type: 'image_url', image_url: { url: p.image_url, ...(typeof p.detail === 'string' ? { detail: p.detail } : {}) } };
    }
    throw bad(`${at}.type`, `${at}.type "${String(p.type)}" is not supported (input_text, input_image, output_text)`);
  });
  return parts.every((p) => p.type === 'text') ? parts.map((p) => p.text).join('') : parts;
}

function convertItems(items: unknown[], out: ChatMessage[]): void {
  items.forEach((item, i) => {
    const where = `input[${i}]`;
    if (!isObj(item)) throw bad(where, `${where} must be an item object`);
    const type = item.type ?? 'message';
    if (type === 'message') {
      const role = item.role;
      if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'developer')
        throw bad(`${where}.role`, `${where}.role must be user, assistant, system or developer`);
      out.push({ role, content: textOfParts(item.content, where) });
    } else if (type === 'function_call') {
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string')
        throw bad(where, `${where}: a function_call needs "call_id" and "name"`);
      const call = {
        id: item.call_id,
        type: 'function',
        function: {
          name: item.name,
          arguments: typeof item.arguments === 'string' ? item.arguments : JSON.stringify(item.arguments ?? {}),
        },
      };
      const prev = out.at(-1) as (ChatMessage & { tool_calls?: unknown[] }) | undefined;
      // Parallel calls of one turn are one assistant message.
      if (prev?.role === 'assistant' && Array.isArray(prev.tool_calls)) prev.tool_calls.push(call);
      else out.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (type === 'function_call_output') {
      if (typeof item.call_id !== 'string') throw bad(`${where}.call_id`, `${where}: a function_call_output needs "call_id"`);
      out.push({
        role: 'tool',
        tool_call_id: item.call_id,
        content: typeof item.output === 'string' ? item.output : JSON.stringify(item.output ?? ''),
      });
    } else if (type === 'reasoning') {
      // Reasoning items only mean something to the model that made them; they are not replayed.
    } else if (type === 'item_reference') {
      throw bad(where, `${where}: item references need stored responses, which this gateway does not keep`);
    } else throw bad(`${where}.type`, `${where}.type "${String(type)}" is not supported (message, function_call, function_call_output)`);
  });
}

function convertTools(tools: unknown): unknown[] {
  if (!Array.isArray(tools)) throw bad('tools', '"tools" must be an array');
  return tools.map((t, i) => {
    if (!isObj(t) || t.type !== 'function')
      throw bad(
        `tools[${i}].type`,
        `tools[${i}].type "${isObj(t) ? String(t.type) : typeof t}" is not supported: only function tools are (built-in tools run on OpenAI)`,
      );
    if (typeof t.name !== 'string') throw bad(`tools[${i}].name`, `tools[${i}] needs a "name"`);
    const fn: Obj = { name: t.name, parameters: isObj(t.parameters) ? t.parameters : { type: 'object', properties: {} } };
    if (typeof t.description === 'string') fn.description = t.description;
    if (typeof t.strict === 'boolean') fn.strict = t.strict;
    return { type: 'function', function: fn };
  });
}

function convertToolChoice(choice: unknown): unknown {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  if (isObj(choice) && choice.type === 'function' && typeof choice.name === 'string')
    return { type: 'function', function: { name: choice.name } };
  throw bad('tool_choice', '"tool_choice" must be auto, none, required or {type:"function", name}');
}

function convertFormat(format: unknown): unknown {
  if (!isObj(format)) throw bad('text.format', '"text.format" must be an object like {"type": "json_schema", ...}');
  if (format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema') {
    if (!isObj(format.schema)) throw bad('text.format.schema', '"text.format.schema" is required for json_schema');
    return {
      type: 'json_schema',
      json_schema: {
        name: typeof format.name === 'string' ? format.name : 'output',
        schema: format.schema,
        ...(typeof format.strict === 'boolean' ? { strict: format.strict } : {}),
        ...(typeof format.description === 'string' ? { description: format.description } : {}),
      },
    };
  }
  throw bad('text.format.type', '"text.format.type" must be text, json_object or json_schema');
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

function responseUsage(u: Usage | undefined): Obj {
  return {
    input_tokens: u?.prompt_tokens ?? 0,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: u?.completion_tokens ?? 0,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: u?.total_tokens ?? 0,
    // tasklane's own field (DESIGN "Cost"): unrounded USD when the model has a price.
    ...(u?.cost !== undefined ? { cost: u.cost } : {}),
  };
}

function incomplete(finish: string | null | undefined): Obj | null {
  if (finish === 'length') return { reason: 'max_output_tokens' };
  if (finish === 'content_filter') return { reason: 'content_filter' };
  return null;
}

function envelope(id: string, created: number, model: string, echo: Obj): Obj {
  return {
    id,
    object: 'response',
    created_at: created,
    status: 'in_progress',
    error: null,
    incomplete_details: null,
    model,
    output: [],
    usage: null,
    previous_response_id: null,
    store: false,
    ...echo,
  };
}

/** A whole completion as a Response object. */
export function chatToResponse(c: ChatCompletion, model: string, echo: Obj): Obj {
  const choice = c.choices[0];
  const msg = choice?.message;
  const output: unknown[] = [];
  if (typeof msg?.content === 'string' && msg.content.length > 0) {
    output.push({
      type: 'message',
      id: newId('msg'),
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: msg.content, annotations: [] }],
    });
  }
  const calls = (msg as { tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }> } | undefined)?.tool_calls;
  if (Array.isArray(calls))
    for (const call of calls)
      output.push({
        type: 'function_call',
        id: newId('fc'),
        call_id: call.id,
        name: call.function.name,
        arguments: call.function.arguments,
        status: 'completed',
      });
  const inc = incomplete(choice?.finish_reason);
  return {
    ...envelope(newId('resp'), c.created, model, echo),
    status: inc ? 'incomplete' : 'completed',
    incomplete_details: inc,
    output,
    usage: responseUsage(c.usage),
  };
}

/**
 * The stream's chunks as Responses events, each with its `sequence_number`: response.created and
 * in_progress, then per output item output_item.added, content_part.added, output_text.delta …
 * (or function_call_arguments.delta) and their .done events, then response.completed. A stream
 * that breaks ends with `fail()`: response.failed.
 */
export class ResponsesStream {
  readonly #model: string;
  readonly #echo: Obj;
  readonly #id = newId('resp');
  #created = Math.floor(Date.now() / 1000);
  #seq = 0;
  #started = false;
  readonly #output: Obj[] = [];
  #text: { item: Obj; index: number; text: string } | undefined;
  readonly #calls = new Map<number, { item: Obj; index: number }>();
  #finish: string | null = null;
  #usage: Usage | undefined;

  constructor(model: string, echo: Obj) {
    this.#model = model;
    this.#echo = echo;
  }

  #ev(type: string, data: Obj): SseEvent {
    return { event: type, data: { type, sequence_number: this.#seq++, ...data } };
  }

  #snapshot(status: string, extra: Obj = {}): Obj {
    return { ...envelope(this.#id, this.#created, this.#model, this.#echo), status, output: this.#output, ...extra };
  }

  push(chunk: ChatChunk): SseEvent[] {
    const out: SseEvent[] = [];
    if (!this.#started) {
      this.#started = true;
      this.#created = chunk.created || this.#created;
      out.push(this.#ev('response.created', { response: this.#snapshot('in_progress', { output: [] }) }));
      out.push(this.#ev('response.in_progress', { response: this.#snapshot('in_progress', { output: [] }) }));
    }
    if (chunk.usage) this.#usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) return out;
    const text = choice.delta.content;
    if (typeof text === 'string' && text.length > 0) {
      if (!this.#text) {
        const item: Obj = { type: 'message', id: newId('msg'), status: 'in_progress', role: 'assistant', content: [] };
        const index = this.#output.length;
        this.#output.push(item);
        this.#text = { item, index, text: '' };
        out.push(this.#ev('response.output_item.added', { output_index: index, item: { ...item, content: [] } }));
        out.push(
          this.#ev('response.content_part.added', {
            item_id: item.id,
            output_index: index,
            content_index: 0,
            part: { type: 'output_text', text: '', annotations: [] },
          }),
        );
      }
      this.#text.text += text;
      out.push(
        this.#ev('response.output_text.delta', {
          item_id: this.#text.item.id,
          output_index: this.#text.index,
          content_index: 0,
          delta: text,
          logprobs: [],
        }),
      );
    }
    const calls = (choice.delta as { tool_calls?: Array<{ index: number; id?: string; function?: { name?: string; arguments?: string } }> })
      .tool_calls;
    if (Array.isArray(calls)) {
      for (const call of calls) {
        let c = this.#calls.get(call.index);
        if (!c) {
          out.push(...this.#closeText());
          const item: Obj = {
            type: 'function_call',
            id: newId('fc'),
            call_id: call.id ?? newId('call'),
            name: call.function?.name ?? '',
            arguments: '',
            status: 'in_progress',
          };
          c = { item, index: this.#output.length };
          this.#output.push(item);
          this.#calls.set(call.index, c);
          out.push(this.#ev('response.output_item.added', { output_index: c.index, item: { ...item } }));
        }
        const args = call.function?.arguments;
        if (args) {
          c.item.arguments = String(c.item.arguments) + args;
          out.push(this.#ev('response.function_call_arguments.delta', { item_id: c.item.id, output_index: c.index, delta: args }));
        }
      }
    }
    if (choice.finish_reason) this.#finish = choice.finish_reason;
    return out;
  }

  #closeText(): SseEvent[] {
    const t = this.#text;
    if (!t || t.item.status === 'completed') return [];
    const part = { type: 'output_text', text: t.text, annotations: [] };
    t.item.status = 'completed';
    t.item.content = [part];
    return [
      this.#ev('response.output_text.done', { item_id: t.item.id, output_index: t.index, content_index: 0, text: t.text, logprobs: [] }),
      this.#ev('response.content_part.done', { item_id: t.item.id, output_index: t.index, content_index: 0, part }),
      this.#ev('response.output_item.done', { output_index: t.index, item: { ...t.item } }),
    ];
  }

  /** The closing events of a stream that ended whole. */
  end(): SseEvent[] {
    const out = this.#closeText();
    for (const c of this.#calls.values()) {
      c.item.status = 'completed';
      out.push(
        this.#ev('response.function_call_arguments.done', {
          item_id: c.item.id,
          output_index: c.index,
          name: c.item.name,
          arguments: c.item.arguments,
        }),
      );
      out.push(this.#ev('response.output_item.done', { output_index: c.index, item: { ...c.item } }));
    }
    const inc = incomplete(this.#finish);
    const response = this.#snapshot(inc ? 'incomplete' : 'completed', { incomplete_details: inc, usage: responseUsage(this.#usage) });
    out.push(this.#ev(inc ? 'response.incomplete' : 'response.completed', { response }));
    return out;
  }

  /** The last event of a stream that broke: the response as far as it got, failed, with our code. */
  fail(code: string, message: string): SseEvent[] {
    if (!this.#started) this.#started = true;
    return [this.#ev('response.failed', { response: this.#snapshot('failed', { error: { code, message } }) })];
  }
}
