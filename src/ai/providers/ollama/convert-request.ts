import { ValidationError } from '../../../errors.js';
import type { ChatRequest } from '../../types.js';
import type { OllamaMessage } from './wire-types.js';

const text = (content: unknown): string =>
  typeof content === 'string'
    ? content
    : Array.isArray(content)
      ? content
          .map((p) =>
            p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '',
          )
          .join('')
      : '';

/**
 * OpenAI's request in Ollama's words: sampling settings go under `options` (`max_tokens` is
 * `num_predict`), and a prefill is the trailing assistant message Ollama continues.
 */
export function convertRequest(request: ChatRequest, o: { stream: boolean; prefill?: string }): Record<string, unknown> {
  const messages: OllamaMessage[] = request.messages.map((m) => {
    const out: OllamaMessage = { role: m.role === 'developer' ? 'system' : m.role, content: text(m.content) };
    const images = imagesOf(m.content);
    if (images.length > 0) out.images = images;
    // An assistant turn that called tools: Ollama wants the arguments as an object.
    const calls = (m as { tool_calls?: unknown }).tool_calls;
    if (Array.isArray(calls))
      out.tool_calls = calls.map((c) => ({
        function: { name: c?.function?.name ?? '', arguments: parseArguments(c?.function?.arguments) },
      }));
    return out;
  });
  if (o.prefill !== undefined) messages.push({ role: 'assistant', content: o.prefill });
  const options: Record<string, unknown> = {};
  if (request.temperature !== undefined) options.temperature = request.temperature;
  if (request.top_p !== undefined) options.top_p = request.top_p;
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens !== undefined) options.num_predict = maxTokens;
  if (request.stop !== undefined) options.stop = Array.isArray(request.stop) ? request.stop : [request.stop];
  if (request.seed !== undefined) options.seed = request.seed;
  const tools = (request as { tools?: unknown }).tools;
  const format = formatOf(request.response_format);
  return {
    model: request.model,
    messages,
    stream: o.stream,
    ...(Array.isArray(tools) ? { tools } : {}),
    ...(format === undefined ? {} : { format }),
    ...(Object.keys(options).length > 0 ? { options } : {}),
  };
}

function parseArguments(args: unknown): unknown {
  if (typeof args !== 'string') return args ?? {};
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

/** `response_format` as Ollama's `format`: "json" for json_object, the schema itself for json_schema. */
function formatOf(rf: unknown): unknown {
  if (!rf || typeof rf !== 'object') return undefined;
  const f = rf as { type?: unknown; json_schema?: { schema?: unknown } };
  if (f.type === 'json_object') return 'json';
  if (f.type === 'json_schema' && f.json_schema && typeof f.json_schema.schema === 'object') return f.json_schema.schema;
  return undefined;
}

/**
 * Image parts as Ollama's `images` (bare base64). Ollama takes no URLs, and the gateway fetches
 * nothing on a caller's behalf: an http(s) image is refused rather than silently dropped.
 */
function imagesOf(content: unknown): string[] {
  if (!Array.isArray(content)) return [];
  const out: string[] = [];
  for (const p of content) {
    if (!p || typeof p !== 'object' || (p as { type?: unknown }).type !== 'image_url') continue;
    const iu = (p as { image_url?: unknown }).image_url;
    const url = typeof iu === 'string' ? iu : (iu as { url?: unknown } | undefined)?.url;
    if (typeof url !== 'string') continue;
    const m = /^data:[^;,]+;base64,(.*)$/s.exec(url);
    if (!m)
      throw new ValidationError('an Ollama target takes images as data URLs (data:image/png;base64,...), not links: it cannot fetch them');
    out.push(m[1]!);
  }
  return out;
}
