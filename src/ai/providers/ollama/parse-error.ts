import type { UpstreamErrorInfo } from '../http/status.js';

/** Ollama answers errors as `{"error": "text"}`. */
export function parseOllamaError(text: string): UpstreamErrorInfo {
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === 'string') return { message: body.error };
  } catch {
    // Not JSON: keep the text.
  }
  return text.trim() ? { message: text.trim().slice(0, 300) } : {};
}
