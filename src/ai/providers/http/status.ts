import type { ProviderError } from '../../../errors.js';
import type { ProviderErrorKind } from '../../provider.js';
import { providerError, where, type CallContext } from './provider-error.js';
import { parseRetryAfterMs, type HeaderBag } from './retry-after.js';

/** What an adapter reads out of an upstream error body. */
export interface UpstreamErrorInfo {
  message?: string;
  code?: string;
  type?: string;
  /** A wait the body asks for (e.g. Hugging Face's `estimated_time`), in ms. */
  retryAfterMs?: number;
}

const CONTEXT_RE = /context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|must be <= \d+|reduce the length/i;
const FILTER_RE = /content[ _-]?(management )?(policy|filter)|flagged|safety system/i;

/** Maps a non-2xx status (and what its body says) to a kind. */
export function kindForStatus(status: number, info: UpstreamErrorInfo): ProviderErrorKind {
  const code = `${info.code ?? ''} ${info.type ?? ''}`.toLowerCase();
  if (status === 429) return 'rate_limit';
  if (status === 401) return 'auth';
  // 403: this key may not use this model (no access, a moderation flag): the pair, not the key.
  if (status === 403) return 'forbidden';
  if (status === 408 || status === 409 || status >= 500) return 'server';
  if (status >= 400) {
    if (code.includes('context_length') || CONTEXT_RE.test(info.message ?? '')) return 'context_length';
    if (code.includes('content_filter') || code.includes('content_policy') || FILTER_RE.test(info.message ?? '')) return 'content_filter';
    return 'bad_request';
  }
  return 'server';
}

/** Longest upstream text quoted in an error message. */
export const QUOTE_MAX = 300;

/**
 * Upstream text fit to quote: the provider's secrets (and the key the call used) replaced first,
 * then cut to QUOTE_MAX characters. In that order: cut first, and a key straddling the cut would
 * leave its first characters behind, which no scrubber downstream recognises any more.
 */
export function quoteUpstream(text: string, ctx: Pick<CallContext, 'secrets'>, apiKey?: string): string {
  let m = text.trim();
  // Keys shorter than 4 characters are test placeholders; replacing them would mangle ordinary words.
  const secrets = apiKey && apiKey.length >= 4 ? [apiKey, ...(ctx.secrets ?? [])] : (ctx.secrets ?? []);
  for (const s of secrets) if (m.includes(s)) m = m.split(s).join('[redacted]');
  return m.length > QUOTE_MAX ? `${m.slice(0, QUOTE_MAX)}…` : m;
}

/** Keeps an upstream message short and free of the provider's secrets. */
export function safeUpstreamMessage(
  message: string | undefined,
  apiKey: string | undefined,
  ctx: Pick<CallContext, 'secrets'> = {},
): string {
  if (!message) return '';
  return quoteUpstream(message, ctx, apiKey);
}

export function errorForStatus(
  status: number,
  headers: HeaderBag,
  info: UpstreamErrorInfo,
  ctx: CallContext,
  apiKey: string | undefined,
): ProviderError {
  const kind = kindForStatus(status, info);
  const fromHeaders = parseRetryAfterMs(headers);
  const retryAfterMs =
    fromHeaders !== undefined || info.retryAfterMs !== undefined ? Math.max(fromHeaders ?? 0, info.retryAfterMs ?? 0) : undefined;
  // A 401's upstream text may quote part of the key (e.g. "sk-ab***yz"): say nothing of it. A 403's
  // reason (no access to the model, a policy) is what the caller needs, so it is passed on scrubbed.
  const said = kind === 'auth' ? '' : safeUpstreamMessage(info.message, apiKey, ctx);
  return providerError(kind, ctx, `${where(ctx)} answered ${status}${said ? `: ${said}` : ''}`, {
    status,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}
