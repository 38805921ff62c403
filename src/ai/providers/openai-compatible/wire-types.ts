/** The OpenAI chat completions wire format as upstreams send it (only the fields we read). */

export interface WireUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
}

export interface WireChoiceDelta {
  index?: number;
  delta?: { role?: string; content?: string | null; [k: string]: unknown } | null;
  finish_reason?: string | null;
}

export interface WireChunk {
  id?: string;
  created?: number;
  model?: string;
  choices?: WireChoiceDelta[] | null;
  usage?: WireUsage | null;
  /** Some gateways (OpenRouter, TGI) report a failure inside the stream. */
  error?: unknown;
}

export interface WireChoice {
  index?: number;
  message?: { role?: string; content?: string | null; [k: string]: unknown } | null;
  finish_reason?: string | null;
}

export interface WireCompletion {
  id?: string;
  created?: number;
  model?: string;
  choices?: WireChoice[];
  usage?: WireUsage | null;
  error?: unknown;
}

/** OpenAI: `{error:{message,type,code}}`; others send `{error:"text"}` or `{message}`. */
export interface WireErrorBody {
  error?: string | { message?: string; type?: string; code?: string | number | null; [k: string]: unknown };
  message?: string;
  error_type?: string;
  estimated_time?: number;
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
