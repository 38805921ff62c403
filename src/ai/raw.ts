/**
 * The upstream's own bytes, kept beside a parsed answer so a same-dialect answer can be forwarded
 * as it came (issue 19.3; DESIGN "Streams": per event, once it has parsed). Symbol keys: invisible
 * to JSON.stringify, structured clones and the public types, so every other reader (dialect
 * translation, cache, continuation) keeps working on the parsed object.
 */
import type { ChatChunk, ChatCompletion } from './types.js';

const RAW_CHUNK = Symbol('tasklane.rawChunk');
const RAW_BODY = Symbol('tasklane.rawBody');

/** What an upstream event that may pass through carries (see decode-chunk.ts). */
export interface RawEvent {
  /** The event's data, exactly as received. */
  json: string;
  id: string;
  created: number;
}

/** Marks a chunk as the upstream's event `json` (it means exactly what the chunk says). */
export function withRaw(chunk: ChatChunk, json: string): ChatChunk {
  (chunk as unknown as Record<symbol, string>)[RAW_CHUNK] = json;
  return chunk;
}

/** The upstream's JSON for this chunk, when it may be forwarded as it is. */
export function rawChunk(chunk: ChatChunk): string | undefined {
  return (chunk as unknown as Record<symbol, string | undefined>)[RAW_CHUNK];
}

interface RawBody {
  text: string;
  /** What the body said when it was kept: a later rewrite of any of these voids it. */
  content: unknown;
  finish: unknown;
  model: string;
}

/** Keeps the upstream's body beside a completion that says exactly what the body says. */
export function withRawBody(completion: ChatCompletion, text: string): ChatCompletion {
  const c = completion.choices[0];
  const kept: RawBody = { text, content: c?.message.content, finish: c?.finish_reason, model: completion.model };
  (completion as unknown as Record<symbol, RawBody>)[RAW_BODY] = kept;
  return completion;
}

/**
 * The upstream's body, when nothing in the completion was rewritten since (a price adds
 * `usage.cost`; any change to the text, finish reason or model voids it too).
 */
export function rawBody(completion: ChatCompletion): string | undefined {
  const kept = (completion as unknown as Record<symbol, RawBody | undefined>)[RAW_BODY];
  if (!kept) return undefined;
  const c = completion.choices[0];
  if (completion.usage?.cost !== undefined || completion.choices.length !== 1) return undefined;
  if (c?.message.content !== kept.content || c?.finish_reason !== kept.finish || completion.model !== kept.model) return undefined;
  return kept.text;
}

const NATIVE_EVENTS = Symbol('tasklane.nativeEvents');

/**
 * An upstream event of the caller's own dialect (an Anthropic Messages stream to an Anthropic
 * target): forwarded as it came, thinking blocks and signatures included.
 */
export interface NativeEvent {
  event: string;
  data: string;
}

/** Marks a chunk with the upstream's own events that it stands for (in order). */
export function withNative(chunk: ChatChunk, events: NativeEvent[]): ChatChunk {
  (chunk as unknown as Record<symbol, NativeEvent[]>)[NATIVE_EVENTS] = events;
  return chunk;
}

export function nativeEvents(chunk: ChatChunk | undefined): NativeEvent[] | undefined {
  return chunk && (chunk as unknown as Record<symbol, NativeEvent[] | undefined>)[NATIVE_EVENTS];
}
