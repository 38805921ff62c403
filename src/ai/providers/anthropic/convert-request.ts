import { nativeOf } from '../../native.js';
import type { ChatMessage, ChatRequest } from '../../types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Anthropic requires max_tokens; this is what a request without one gets. */
export const DEFAULT_MAX_TOKENS = 4096;

/** The forced tool that carries a json_schema answer (Anthropic has no response_format). */
export interface JsonTool {
  name: string;
}

export interface AnthropicBody {
  body: Obj;
  /** Set when the answer comes back as this tool's input (structured output by tool forcing). */
  jsonTool?: JsonTool;
  /** The caller's own Messages body was sent: its blocks go back to it as they came. */
  native: boolean;
}

/**
 * The request in Anthropic's words. A /v1/messages caller's own body is sent as it came (model,
 * stream and a prefill aside), so `cache_control`, `thinking` and the rest pass through; any
 * other request is translated: system turns to `system`, content parts to blocks (text with its
 * `cache_control`, images as base64 or URL sources), tool calls and results to tool_use and
 * tool_result blocks, `response_format` json_schema to a forced tool.
 */
export function convertRequest(request: ChatRequest, o: { stream: boolean; prefill?: string }): AnthropicBody {
  const native = nativeOf(request, 'anthropic');
  if (native) {
    const body: Obj = { ...native, model: request.model, stream: o.stream };
    if (body.max_tokens === undefined) body.max_tokens = DEFAULT_MAX_TOKENS;
    if (o.prefill !== undefined) body.messages = [...(native.messages as unknown[]), { role: 'assistant', content: o.prefill.trimEnd() }];
    return { body, native: true };
  }
  const system: Obj[] = [];
  const messages: Array<{ role: 'user' | 'assistant'; content: Obj[] }> = [];
  const push = (role: 'user' | 'assistant', blocks: Obj[]): void => {
    if (blocks.length === 0) return;
    const last = messages.at(-1);
    // Anthropic alternates turns: consecutive turns of one role become one.
    if (last?.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  for (const m of request.messages) {
    if (m.role === 'system' || m.role === 'developer') system.push(...blocksOf(m.content).filter((b) => b.type === 'text'));
    else if (m.role === 'tool') {
      const content =
        typeof m.content === 'string'
          ? m.content
          : blocksOf(m.content)
              .map((b) => b.text ?? '')
              .join('');
      push('user', [{ type: 'tool_result', tool_use_id: String((m as { tool_call_id?: unknown }).tool_call_id ?? ''), content }]);
    } else if (m.role === 'assistant') {
      const blocks = blocksOf(m.content);
      const calls = (m as { tool_calls?: unknown }).tool_calls;
      if (Array.isArray(calls))
        for (const c of calls)
          if (isObj(c) && isObj(c.function))
            blocks.push({
              type: 'tool_use',
              id: String(c.id ?? ''),
              name: String(c.function.name ?? ''),
              input: parseArgs(c.function.arguments),
            });
      push('assistant', blocks);
    } else push('user', blocksOf(m.content));
  }
  if (o.prefill !== undefined && o.prefill.trimEnd()) push('assistant', [{ type: 'text', text: o.prefill.trimEnd() }]);

  const body: Obj = {
    model: request.model,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_MAX_TOKENS,
    messages,
    stream: o.stream,
  };
  if (request.temperature !== undefined) body.temperature = Math.min(1, request.temperature);
  if (request.top_p !== undefined) body.top_p = request.top_p;
  if (request.stop !== undefined) body.stop_sequences = Array.isArray(request.stop) ? request.stop : [request.stop];
  if (typeof request.user === 'string') body.metadata = { user_id: request.user };
  const tools = Array.isArray(request.tools) ? request.tools.filter(isObj).map(convertTool) : [];
  let toolChoice = convertToolChoice(request.tool_choice, request.parallel_tool_calls);
  let jsonTool: JsonTool | undefined;
  const rf = isObj(request.response_format) ? request.response_format : undefined;
  if (rf?.type === 'json_schema' && isObj(rf.json_schema)) {
    const name = toolName(rf.json_schema.name);
    tools.push({
      name,
      description: typeof rf.json_schema.description === 'string' ? rf.json_schema.description : "Give the answer as this tool's input.",
      input_schema: isObj(rf.json_schema.schema) ? rf.json_schema.schema : { type: 'object' },
    });
    toolChoice = { type: 'tool', name };
    jsonTool = { name };
  } else if (rf?.type === 'json_object') {
    system.push({ type: 'text', text: 'Answer with one JSON object and nothing else.' });
  }
  if (system.length > 0) body.system = system.every((b) => b.cache_control === undefined) ? system.map((b) => b.text).join('\n') : system;
  if (tools.length > 0) body.tools = tools;
  if (toolChoice) body.tool_choice = toolChoice;
  return { body, ...(jsonTool ? { jsonTool } : {}), native: false };
}

function blocksOf(content: ChatMessage['content']): Obj[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  if (!Array.isArray(content)) return [];
  const out: Obj[] = [];
  for (const p of content) {
    if (!isObj(p)) continue;
    const cache = p.cache_control === undefined ? {} : { cache_control: p.cache_control };
    if (p.type === 'text' && typeof p.text === 'string') out.push({ type: 'text', text: p.text, ...cache });
    else if (p.type === 'image_url') {
      const url = isObj(p.image_url) ? p.image_url.url : p.image_url;
      if (typeof url === 'string') out.push({ type: 'image', source: imageSource(url), ...cache });
    }
  }
  return out;
}

/** A data URL becomes a base64 source; anything else a URL source Anthropic fetches itself. */
export function imageSource(url: string): Obj {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return m ? { type: 'base64', media_type: m[1], data: m[2] } : { type: 'url', url };
}

function convertTool(t: Obj): Obj {
  const fn = isObj(t.function) ? t.function : t;
  return {
    name: String(fn.name ?? ''),
    ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
    input_schema: isObj(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
  };
}

function convertToolChoice(choice: unknown, parallel: unknown): Obj | undefined {
  const extra = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === 'auto') return { type: 'auto', ...extra };
  if (choice === 'required') return { type: 'any', ...extra };
  if (choice === 'none') return { type: 'none' };
  if (isObj(choice) && isObj(choice.function) && typeof choice.function.name === 'string')
    return { type: 'tool', name: choice.function.name, ...extra };
  return parallel === false ? { type: 'auto', ...extra } : undefined;
}

function toolName(name: unknown): string {
  const s = typeof name === 'string' ? name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64) : '';
  return s || 'json_answer';
}

function parseArgs(args: unknown): unknown {
  if (typeof args !== 'string') return isObj(args) ? args : {};
  try {
    const v: unknown = JSON.parse(args || '{}');
    return isObj(v) ? v : {};
  } catch {
    return {};
  }
}
