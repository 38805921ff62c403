/**
 * The AI orchestrator's public shapes. Requests and responses follow OpenAI's chat completions
 * wire format; `meta` says how the answer was served. Types only: nothing here runs.
 */

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | 'developer';
  content: string | null | Array<{ type: string; text?: string; [k: string]: unknown }>;
  name?: string;
  [k: string]: unknown;
}

/** An OpenAI chat completion request; `model` is an alias or `provider/model`. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[];
  seed?: number;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  [k: string]: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens the provider served from its prompt cache (billed at `cachedInput`). */
  prompt_tokens_details?: { cached_tokens?: number };
  /** What the answer cost in USD (unrounded), when the serving model has a price (ai.prices). */
  cost?: number;
}

/** An OpenAI chat completion response body. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string | null; [k: string]: unknown };
    finish_reason: string | null;
  }>;
  usage?: Usage;
}

/** An OpenAI chat completion stream chunk. */
export interface ChatChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: { role?: 'assistant'; content?: string | null; [k: string]: unknown };
    finish_reason: string | null;
  }>;
  usage?: Usage | null;
}

/**
 * Who served an answer, or was called for one: the provider's name, the upstream model id and the
 * index of the key in `providers.<name>.apiKeys`. Never the key itself.
 */
export interface ServedBy {
  provider: string;
  model: string;
  keyIndex: number;
}

/** One upstream attempt and how it ended: a failure has a `code` and a `kind` (its failure class). */
export interface AttemptOutcome extends ServedBy {
  code?: string;
  /** The upstream's HTTP status, when it answered with one. */
  status?: number;
  kind?: string;
  ms: number;
}

/** How an answer was served. Never carries a key, only its index. */
export interface AiMeta extends ServedBy {
  attempts: number;
  /** The attempts that failed before the one that answered, in order; absent when the first one did. */
  failedAttempts?: AttemptOutcome[];
  latencyMs: number;
  cache: 'hit' | 'miss' | 'bypass';
  /** Time spent waiting out a short cooldown before the call that answered (not an attempt), in ms. */
  waitedMs?: number;
  usage?: Usage;
  /** What the upstream calls of this answer cost in USD (unrounded), when the model has a price; 0 for a cache hit. */
  cost?: number;
}

export interface ChatResult {
  completion: ChatCompletion;
  meta: AiMeta;
}

export interface AiCallOptions {
  signal?: AbortSignal;
  /** Skip the response cache (as `cache-control: no-cache` does over HTTP). */
  noCache?: boolean;
  /** Let this request use the cache although it is not deterministic (as `x-tasklane-cache: on` over HTTP). */
  cacheable?: boolean;
  /** Budget of the whole request across attempts, in ms (as `x-tasklane-timeout-ms` over HTTP). */
  timeoutMs?: number;
  /** Shorter phase timeouts for each attempt; a request can only shorten the configured ones. */
  timeouts?: { connectMs?: number; firstByteMs?: number; idleChunkMs?: number; totalMs?: number };
  /** Whom the call is charged to (a client key's name and tenant): budgets, token limits and spend. Set by the server and by jobs. */
  client?: { key: string; tenant?: string };
  /** The job (and step) a call is made from: its cost is added to the job record. Set by the job system. */
  job?: { id: string; step?: string };
  /** W3C traceparent of the span this call belongs under (the server, a lane task and a job set it). */
  traceparent?: string;
}

/** An OpenAI embeddings request; `model` is an alias or `provider/model`. */
export interface EmbeddingRequest {
  model: string;
  input: string | string[];
  /** Length of each vector, where the model can shorten them. */
  dimensions?: number;
  /** How the HTTP answer carries vectors; `runtime.ai.embed()` always returns numbers. */
  encoding_format?: 'float' | 'base64';
  user?: string;
}

/** An OpenAI embeddings response body (vectors as numbers). */
export interface EmbeddingResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface EmbeddingResult {
  response: EmbeddingResponse;
  meta: AiMeta;
}

/** What code (a handler, a task on the loop or in a thread) calls to reach the models. */
export interface AiClient {
  chat(req: ChatRequest, options?: AiCallOptions): Promise<ChatResult>;
  /** Embeddings through the same routes, keys, cooldowns, breakers, retries and cache as chat. */
  embed(req: EmbeddingRequest, options?: AiCallOptions): Promise<EmbeddingResult>;
}
