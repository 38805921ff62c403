import type { ChatMessage, ChatRequest } from '../../types.js';
import { toGeminiSchema } from './convert-schema.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The request in Gemini's words (generateContent): system turns as `systemInstruction`, the
 * conversation as `contents` of user and model turns with text, inlineData (data URL images) or
 * fileData (other image URLs), functionCall and functionResponse parts; sampling settings,
 * `response_format` (JSON mode, `responseSchema`) and `safetySettings` in `generationConfig`
 * terms; tools as functionDeclarations.
 */
export function convertRequest(request: ChatRequest, o: { prefill?: string } = {}): Obj {
  const system: Obj[] = [];
  const contents: Array<{ role: 'user' | 'model'; parts: Obj[] }> = [];
  /** Tool call id → function name, for the functionResponse parts that answer them. */
  const names = new Map<string, string>();
  const push = (role: 'user' | 'model', parts: Obj[]): void => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  for (const m of request.messages) {
    if (m.role === 'system' || m.role === 'developer') system.push(...partsOf(m.content).filter((p) => 'text' in p));
    else if (m.role === 'assistant') {
      const parts = partsOf(m.content);
      const calls = (m as { tool_calls?: unknown }).tool_calls;
      if (Array.isArray(calls)) {
        for (const c of calls) {
          if (!isObj(c) || !isObj(c.function)) continue;
          const name = String(c.function.name ?? '');
          names.set(String(c.id ?? ''), name);
          parts.push({ functionCall: { name, args: parseArgs(c.function.arguments) } });
        }
      }
      push('model', parts);
    } else if (m.role === 'tool') {
      const id = String((m as { tool_call_id?: unknown }).tool_call_id ?? '');
      const text =
        typeof m.content === 'string'
          ? m.content
          : partsOf(m.content)
              .map((p) => (typeof p.text === 'string' ? p.text : ''))
              .join('');
      push('user', [{ functionResponse: { name: names.get(id) ?? (m.name as string | undefined) ?? id, response: { content: text } } }]);
    } else push('user', partsOf(m.content));
  }
  if (o.prefill) push('model', [{ text: o.prefill }]);

  const body: Obj = { contents };
  if (system.length > 0) body.systemInstruction = { parts: system };
  const gen: Obj = {};
  if (request.temperature !== undefined) gen.temperature = request.temperature;
  if (request.top_p !== undefined) gen.topP = request.top_p;
  const max = request.max_completion_tokens ?? request.max_tokens;
  if (max !== undefined) gen.maxOutputTokens = max;
  if (request.stop !== undefined) gen.stopSequences = Array.isArray(request.stop) ? request.stop : [request.stop];
  if (request.seed !== undefined) gen.seed = request.seed;
  const rf = isObj(request.response_format) ? request.response_format : undefined;
  if (rf?.type === 'json_object') gen.responseMimeType = 'application/json';
  else if (rf?.type === 'json_schema' && isObj(rf.json_schema)) {
    gen.responseMimeType = 'application/json';
    if (isObj(rf.json_schema.schema)) gen.responseSchema = toGeminiSchema(rf.json_schema.schema);
  }
  if (Object.keys(gen).length > 0) body.generationConfig = gen;
  const tools = Array.isArray(request.tools) ? request.tools.filter(isObj) : [];
  if (tools.length > 0) {
    body.tools = [
      {
        functionDeclarations: tools.map((t) => {
          const fn = isObj(t.function) ? t.function : t;
          return {
            name: String(fn.name ?? ''),
            ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
            ...(isObj(fn.parameters) ? { parameters: toGeminiSchema(fn.parameters) } : {}),
          };
        }),
      },
    ];
  }
  const choice = request.tool_choice;
  if (choice === 'none') body.toolConfig = { functionCallingConfig: { mode: 'NONE' } };
  else if (choice === 'required') body.toolConfig = { functionCallingConfig: { mode: 'ANY' } };
  else if (isObj(choice) && isObj(choice.function) && typeof choice.function.name === 'string')
    body.toolConfig = { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
  // Gemini's own safety settings pass through when a caller sends them.
  if (Array.isArray(request.safety_settings)) body.safetySettings = request.safety_settings;
  else if (Array.isArray(request.safetySettings)) body.safetySettings = request.safetySettings;
  return body;
}

function partsOf(content: ChatMessage['content']): Obj[] {
  if (typeof content === 'string') return content ? [{ text: content }] : [];
  if (!Array.isArray(content)) return [];
  const out: Obj[] = [];
  for (const p of content) {
    if (!isObj(p)) continue;
    if (p.type === 'text' && typeof p.text === 'string') out.push({ text: p.text });
    else if (p.type === 'image_url') {
      const url = isObj(p.image_url) ? p.image_url.url : p.image_url;
      if (typeof url !== 'string') continue;
      const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
      out.push(m ? { inlineData: { mimeType: m[1], data: m[2] } } : { fileData: { mimeType: mimeOf(url), fileUri: url } });
    }
  }
  return out;
}

function mimeOf(url: string): string {
  const ext = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(url)?.[1]?.toLowerCase();
  return ext === 'png' ? 'image/png' : ext === 'webp' ? 'image/webp' : ext === 'gif' ? 'image/gif' : 'image/jpeg';
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
