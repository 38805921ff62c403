import type { FastifyRequest } from 'fastify';
import { authError } from '../errors.js';
import type { Principal } from './auth.js';
import type { Keyring } from './keyring.js';
import type { StreamGrant, StreamTokens } from './stream-token.js';

/**
 * The onRequest hook of the SSE and WebSocket routes (marked public so the app-wide hook skips
 * them): the usual `Authorization: Bearer` key, or else a `?token=` minted by POST /v1/tokens.
 * Only these two routes accept a token in the URL. Either way the request counts against the
 * key's rate limit (a token carries its key).
 */
export function streamAuth(
  keyring: Pick<Keyring, 'authenticate' | 'assertInForce'>,
  tokens: StreamTokens,
  rateLimit: (principal: Principal) => void,
) {
  return async (req: FastifyRequest): Promise<void> => {
    const token = (req.query as { token?: unknown } | undefined)?.token;
    if (req.headers.authorization || typeof token !== 'string') req.principal = keyring.authenticate(req.headers.authorization);
    else {
      req.principal = tokens.verify(token);
      // Minted by a key that a reload removed: it opens no stream any more.
      keyring.assertInForce(req.principal);
    }
    rateLimit(req.principal);
  };
}

/** A token minted for some jobs only opens those. */
export function assertJobAllowed(principal: Principal, jobId: string): void {
  const jobs = (principal as Partial<StreamGrant>).jobs;
  if (jobs && !jobs.includes(jobId)) {
    throw authError('TL_ERR_AUTH_FORBIDDEN', `this token does not cover job ${jobId}; mint one that lists it with POST /v1/tokens`);
  }
}

/**
 * Calls `expired` when the principal's stream token expires (never for a key, which does not
 * expire); returns the function that cancels the timer. The timer is unref'd: it never holds
 * the process open.
 */
export function onExpiry(principal: Principal, expired: () => void): () => void {
  const expiresAt = (principal as Partial<StreamGrant>).expiresAt;
  if (expiresAt === undefined) return () => undefined;
  // setTimeout takes at most 2^31-1 ms; tokens live at most maxTokenTtlMs (1 h by default).
  const timer = setTimeout(expired, Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1));
  timer.unref();
  return () => clearTimeout(timer);
}

/** Throws TL_ERR_AUTH_TOKEN_EXPIRED once the principal's stream token has expired. */
export function assertNotExpired(principal: Principal, now = Date.now()): void {
  const expiresAt = (principal as Partial<StreamGrant>).expiresAt;
  if (expiresAt !== undefined && now >= expiresAt)
    throw authError('TL_ERR_AUTH_TOKEN_EXPIRED', 'the stream token has expired: mint a new one with POST /v1/tokens and reconnect');
}
