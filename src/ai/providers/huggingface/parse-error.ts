import type { UpstreamErrorInfo } from '../http/status.js';
import { parseErrorBody } from '../openai-compatible/parse-error.js';

/**
 * Hugging Face (router and TGI) error bodies: `{error: "text", error_type}` from TGI, OpenAI's form
 * from the router, and `estimated_time` (seconds) while a model loads — a wait we honour like
 * Retry-After.
 */
export function parseHfErrorBody(text: string): UpstreamErrorInfo {
  const info = parseErrorBody(text);
  try {
    const body = JSON.parse(text) as { estimated_time?: unknown };
    if (typeof body.estimated_time === 'number' && body.estimated_time > 0) info.retryAfterMs = Math.ceil(body.estimated_time * 1000);
  } catch {
    // Not JSON: parseErrorBody already kept the text as the message.
  }
  // TGI reports a prompt over the context window as a validation error.
  if (info.type === 'validation' && /tokens? .*must be <=/.test(info.message ?? '')) info.code = 'context_length_exceeded';
  return info;
}
