/**
 * The provider spec: what the orchestrator needs from an upstream adapter. Types only — nothing
 * here runs, so adapters and the orchestrator depend on this file and never on each other.
 */
import type { ChatCompletion, ChatRequest, EmbeddingRequest, ServedBy, Usage } from './types.js';
import type { NativeEvent, RawEvent } from './raw.js';
import type { ProviderError } from '../errors.js';

export const PROVIDER_SPEC = 'tl-provider-1' as const;

/** Per-attempt deadlines, each enforced by the adapter and reported as a 'timeout' with its phase. */
export interface PhaseTimeouts {
  /** TCP (+ TLS) connect, in ms. */
  connectMs: number;
  /** From request sent to headers and the first body byte, in ms. */
  firstByteMs: number;
  /** Longest silence between two stream chunks, in ms. */
  idleChunkMs: number;
  /** Whole call, in ms. */
  totalMs: number;
}

export interface ProviderCallOptions {
  /** `model` already set to the upstream model id. */
  request: ChatRequest;
  apiKey?: string;
  keyIndex: number;
  /** Aborted by the orchestrator (client disconnect, cancel); the upstream request is aborted too. */
  signal: AbortSignal;
  timeouts: PhaseTimeouts;
  /** Assistant text to continue from (mid-stream continuation); only the continuation is yielded. */
  prefill?: string;
}

export type StreamPart =
  | { type: 'start'; id: string; model: string; created: number }
  /** `raw`: the upstream event, when it means exactly this piece (same-dialect pass-through, ai/raw.ts). */
  | { type: 'text-delta'; text: string; raw?: RawEvent; native?: NativeEvent[] }
  /** A piece of a tool call of the first choice: `index` names the call; id and name come with its first piece. */
  | { type: 'tool-call-delta'; index: number; id?: string; name?: string; arguments?: string; raw?: RawEvent; native?: NativeEvent[] }
  /** A choice carried finish_reason, or [DONE] arrived. */
  /** `native`: the upstream's events since the last content part (a native pass-through). */
  | { type: 'finish'; finishReason: string; usage?: Usage; native?: NativeEvent[] }
  /** An event whose data did not parse: skipped; the orchestrator counts it and ends the stream after ai.maxMalformedEvents. */
  | { type: 'malformed' }
  /** In-band: the stream broke, stalled or sent malformed data. Always the last part. */
  | { type: 'error'; error: ProviderError };

/**
 * What an adapter is built from: one configured provider (`providers.<name>` in the config) with
 * its secrets resolved. The config's ResolvedProvider satisfies it; adapters depend on this, never
 * on the config module.
 */
export interface ProviderSettings {
  /** The adapter's type, a name in the provider registry (src/ai/providers/registry.ts). */
  type: string;
  baseURL: string;
  apiKeys: string[];
  headers: Record<string, string>;
  /** Whether the provider continues from an assistant prefill (mid-stream continuation). */
  prefill: boolean;
  /** Most keep-alive connections to this provider. */
  connections: number;
  timeouts?: Partial<PhaseTimeouts>;
  models?: string[];
  keyConcurrency?: number;
  /** How calls leave the process: a proxy, proxies from the environment, extra trusted CAs. */
  network?: ProviderNetwork;
}

export interface ProviderNetwork {
  /** Every call through this proxy (CONNECT tunnel). */
  proxy?: string;
  /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY as read at load (undici's EnvHttpProxyAgent applies them per call). */
  proxyEnv?: { httpProxy?: string; httpsProxy?: string; noProxy?: string };
  /** PEM certificates trusted for TLS to the provider: the usual roots, NODE_EXTRA_CA_CERTS and `tls.ca`. */
  ca?: string[];
}

/** What a ProviderError's `details.kind` says went wrong. */
export type ProviderErrorKind =
  | 'rate_limit'
  | 'auth'
  /** A 403: this key may not use this model. */
  | 'forbidden'
  | 'server'
  | 'timeout'
  | 'connect'
  | 'bad_request'
  | 'context_length'
  | 'content_filter'
  | 'stream_broken'
  | 'malformed'
  /** A `strict` json_schema answer that does not conform: next target, no same-target retry. */
  | 'schema_mismatch'
  | 'aborted';

export type TimeoutPhase = 'connect' | 'first_byte' | 'idle' | 'total';

/** `details` of every ProviderError. Never the key, only its index. */
export interface ProviderErrorDetails extends ServedBy {
  status?: number;
  retryAfterMs?: number;
  kind: ProviderErrorKind;
  phase?: TimeoutPhase;
  /** The network error code of a connect failure (ECONNRESET, ECONNREFUSED…). */
  network?: string;
}

export interface EmbedCallOptions {
  /** `model` already set to the upstream model id; `input` always an array here. */
  request: EmbeddingRequest & { input: string[] };
  apiKey?: string;
  keyIndex: number;
  signal: AbortSignal;
  timeouts: PhaseTimeouts;
}

/** One vector per input, in input order. */
export interface EmbedResult {
  vectors: number[][];
  model: string;
  usage?: { prompt_tokens: number; total_tokens: number };
}

/** One per configured provider. */
export interface LanguageModel {
  readonly spec: typeof PROVIDER_SPEC;
  readonly name: string;
  /** The adapter's type in the provider registry (`openai-compatible`, `ollama`...). */
  readonly type: string;
  readonly supportsPrefill: boolean;
  doGenerate(o: ProviderCallOptions): Promise<{ completion: ChatCompletion }>;
  /** Resolves once the upstream answered 2xx with headers; rejects with ProviderError otherwise. */
  doStream(o: ProviderCallOptions): Promise<AsyncIterable<StreamPart>>;
  /** Embeddings; absent when the provider has none (the target is then skipped for embeddings). */
  doEmbed?(o: EmbedCallOptions): Promise<EmbedResult>;
  doListModels(o: { apiKey?: string; signal: AbortSignal; timeouts: PhaseTimeouts }): Promise<string[]>;
  /** Closes its undici Pool; idempotent. */
  close(): Promise<void>;
}
