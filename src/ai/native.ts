/**
 * The caller's own body, kept beside a translated request so an adapter of the same dialect can
 * send it natively (an Anthropic Messages request to an Anthropic provider keeps `cache_control`,
 * `thinking` and every field the translation has no word for). A symbol key: other adapters copy
 * a request's string keys to the upstream, and this must never reach them.
 */
export const NATIVE = Symbol.for('tasklane.native');

export interface NativeBody {
  dialect: 'anthropic';
  body: Record<string, unknown>;
}

export function nativeOf(request: object, dialect: NativeBody['dialect']): Record<string, unknown> | undefined {
  const n = (request as { [NATIVE]?: NativeBody })[NATIVE];
  return n?.dialect === dialect ? n.body : undefined;
}

/** What an adapter of the same dialect adds to the answer so the ingress can hand it back as is. */
export interface NativeAnswer {
  dialect: 'anthropic';
  /** The upstream's own content blocks (thinking, redacted_thinking, tool_use... as sent). */
  content: unknown[];
  usage?: Record<string, unknown>;
  stop_reason?: string | null;
  stop_sequence?: string | null;
}

/** Key of the native answer on a completion's message (a plain string key so the cache keeps it). */
export const NATIVE_ANSWER = 'tasklane_native' as const;
