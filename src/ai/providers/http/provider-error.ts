import { ProviderError, type ErrorCode } from '../../../errors.js';
import type { ProviderErrorDetails, ProviderErrorKind, TimeoutPhase } from '../../provider.js';
import type { ServedBy } from '../../types.js';

/** Who was called: goes into every error's details. Never the key itself. */
export interface CallContext extends ServedBy {
  /**
   * The provider's secrets (its keys and header values), replaced in any upstream text before it
   * is cut short and quoted (quoteUpstream). Never copied into an error's details.
   */
  secrets?: readonly string[];
}

/** The secrets of a provider config worth replacing (4+ characters, longest first). */
export function providerSecrets(config: { apiKeys: readonly string[]; headers?: Readonly<Record<string, string>> }): string[] {
  return [...new Set([...config.apiKeys, ...Object.values(config.headers ?? {})])]
    .filter((s) => s.length >= 4)
    .sort((a, b) => b.length - a.length);
}

const CODES: Record<ProviderErrorKind, ErrorCode> = {
  rate_limit: 'TL_ERR_AI_RATE_LIMITED',
  auth: 'TL_ERR_AI_AUTH',
  forbidden: 'TL_ERR_AI_REFUSED',
  server: 'TL_ERR_AI_PROVIDER',
  timeout: 'TL_ERR_AI_TIMEOUT',
  connect: 'TL_ERR_AI_PROVIDER',
  bad_request: 'TL_ERR_AI_BAD_REQUEST',
  context_length: 'TL_ERR_AI_CONTEXT_LENGTH',
  content_filter: 'TL_ERR_AI_CONTENT_FILTER',
  stream_broken: 'TL_ERR_AI_STREAM_BROKEN',
  malformed: 'TL_ERR_AI_STREAM_BROKEN',
  schema_mismatch: 'TL_ERR_AI_SCHEMA_MISMATCH',
  aborted: 'TL_ERR_ABORTED',
};

/** auth is retryable on another key; the orchestrator disables the refused one. */
const RETRYABLE = new Set<ProviderErrorKind>([
  'rate_limit',
  'server',
  'timeout',
  'connect',
  'stream_broken',
  'malformed',
  'auth',
  'forbidden',
  'schema_mismatch',
]);

export interface ProviderErrorExtra {
  status?: number;
  retryAfterMs?: number;
  phase?: TimeoutPhase;
  /** The network error code (ECONNRESET, ECONNREFUSED…) of a connect failure. */
  network?: string;
  cause?: unknown;
}

export function providerError(kind: ProviderErrorKind, ctx: CallContext, message: string, extra: ProviderErrorExtra = {}): ProviderError {
  const details: ProviderErrorDetails = { provider: ctx.provider, model: ctx.model, keyIndex: ctx.keyIndex, kind };
  if (extra.status !== undefined) details.status = extra.status;
  if (extra.retryAfterMs !== undefined) details.retryAfterMs = extra.retryAfterMs;
  if (extra.phase !== undefined) details.phase = extra.phase;
  if (extra.network !== undefined) details.network = extra.network;
  return new ProviderError(CODES[kind], message, {
    details: details as unknown as Record<string, unknown>,
    retryable: RETRYABLE.has(kind),
    ...(extra.cause === undefined ? {} : { cause: extra.cause }),
  });
}

export const where = (ctx: CallContext) => `provider "${ctx.provider}" (model ${ctx.model}, key ${ctx.keyIndex})`;

export function isProviderError(err: unknown): err is ProviderError {
  return err instanceof ProviderError;
}
