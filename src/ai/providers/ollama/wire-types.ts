/** Ollama's native /api/chat and /api/tags wire format (only the fields we read). */

export interface OllamaMessage {
  role: string;
  content: string;
  images?: string[];
  tool_calls?: Array<{ function: { name: string; arguments: unknown } }>;
}

export interface OllamaChatLine {
  model?: string;
  created_at?: string;
  message?: { role?: string; content?: string; tool_calls?: Array<{ function?: { name?: string; arguments?: unknown } }> } | null;
  done?: boolean;
  done_reason?: string;
  prompt_eval_count?: number;
  eval_count?: number;
  error?: string;
}

export interface OllamaTags {
  models?: Array<{ name?: string; model?: string }>;
}
