import type { UpstreamErrorInfo } from '../http/status.js';

/** Ollama answers errors as `{"error": "text"}`. */
export function parseOllamaError(text: string): UpstreamErrorInfo {
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === 'string') return { message: body.error };
  } catch {
    // Not JSON: keep the text.
  }
  // Kept whole (the body read is bounded): it is cut only after secrets are replaced (quoteUpstream).
  return text.trim() ? { message: text.trim() } : {};
}
