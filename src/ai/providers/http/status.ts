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

/** Keeps an upstream message short and free of the key the call used. */
export function safeUpstreamMessage(message: string | undefined, apiKey: string | undefined): string {
  if (!message) return '';
  let m = message.length > 300 ? `${message.slice(0, 300)}…` : message;
  // Keys shorter than this are test placeholders; replacing them would mangle ordinary words.
  if (apiKey && apiKey.length >= 8) m = m.split(apiKey).join('[key]');
  return m;
}

export function errorForStatus(status: number, headers: HeaderBag, info: UpstreamErrorInfo, ctx: CallContext, apiKey: string | undefined): ProviderError {
  const kind = kindForStatus(status, info);
  const fromHeaders = parseRetryAfterMs(headers);
  const retryAfterMs = fromHeaders !== undefined || info.retryAfterMs !== undefined ? Math.max(fromHeaders ?? 0, info.retryAfterMs ?? 0) : undefined;
  // A 401's upstream text may quote part of the key (e.g. "sk-ab***yz"): say nothing of it. A 403's
  // reason (no access to the model, a policy) is what the caller needs, so it is passed on scrubbed.
  const said = kind === 'auth' ? '' : safeUpstreamMessage(info.message, apiKey);
  return providerError(kind, ctx, `${where(ctx)} answered ${status}${said ? `: ${said}` : ''}`, {
    status,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}
