import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { authError } from '../errors.js';
import type { Scope } from './auth.js';
import type { Viewer, ViewingPrincipal } from './ownership.js';

/** What a stream token grants: read scopes, an expiry, the jobs its key sees, and optionally a list of jobs. */
export interface StreamGrant extends ViewingPrincipal {
  /** Epoch ms. */
  expiresAt: number;
  /** Only these jobs, when set. */
  jobs?: string[];
}

interface Payload {
  /** scopes */
  s: Scope[];
  /** expiry, epoch ms */
  e: number;
  /** key index of the caller that minted it */
  k: number;
  /** jobs */
  j?: string[];
  /** owner view: a = sees all, n = key name, o = owner recorded, f = list filter */
  v: { a: boolean; n?: string; o?: Viewer['owner']; f?: Viewer['filter'] };
}

/**
 * Short-lived tokens for the two routes browsers cannot send headers to (EventSource and
 * WebSocket take no Authorization header). A token is `tl1.<payload>.<hmac>`, signed with
 * `server.streams.tokenSecret` when set (valid on every server sharing it, across restarts), else
 * with a random secret made for this process.
 */
export class StreamTokens {
  readonly #secret: Buffer;
  readonly #now: () => number;

  constructor(options: { secret?: string; now?: () => number } = {}) {
    // Derived, so the configured value itself is never the HMAC key.
    this.#secret = options.secret ? createHmac('sha256', 'tasklane stream tokens').update(options.secret).digest() : randomBytes(32);
    this.#now = options.now ?? Date.now;
  }

  mint(grant: { keyIndex: number; scopes: Scope[]; ttlMs: number; jobs?: string[]; name?: string; viewer: Viewer }): {
    token: string;
    expiresAt: number;
  } {
    const v: Payload['v'] = { a: grant.viewer.all };
    if (grant.name !== undefined) v.n = grant.name;
    if (grant.viewer.owner) v.o = grant.viewer.owner;
    if (grant.viewer.filter) v.f = grant.viewer.filter;
    const payload: Payload = { s: grant.scopes, e: this.#now() + grant.ttlMs, k: grant.keyIndex, v };
    if (grant.jobs) payload.j = grant.jobs;
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return { token: `tl1.${body}.${this.#sign(body)}`, expiresAt: payload.e };
  }

  /** The grant of a token; TL_ERR_AUTH_TOKEN_INVALID or TL_ERR_AUTH_TOKEN_EXPIRED otherwise. */
  verify(token: string): StreamGrant {
    const [version, body, sig] = token.split('.');
    if (version !== 'tl1' || !body || !sig) throw authError('TL_ERR_AUTH_TOKEN_INVALID');
    const expected = Buffer.from(this.#sign(body));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw authError('TL_ERR_AUTH_TOKEN_INVALID');
    let payload: Payload;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
    } catch {
      // Signed by us, so unreachable unless the secret leaked; still answer as a bad token.
      throw authError('TL_ERR_AUTH_TOKEN_INVALID');
    }
    if (this.#now() >= payload.e) throw authError('TL_ERR_AUTH_TOKEN_EXPIRED');
    // Tokens from builds before ownership carry no view: refused rather than guessed (clients re-mint).
    if (typeof payload.v !== 'object' || payload.v === null) throw authError('TL_ERR_AUTH_TOKEN_INVALID');
    const viewer: Viewer = { all: payload.v.a === true };
    if (payload.v.o) viewer.owner = payload.v.o;
    if (!viewer.all) viewer.filter = payload.v.f ?? {};
    const grant: StreamGrant = { keyIndex: payload.k, scopes: payload.s, expiresAt: payload.e, viewer };
    if (payload.v.n !== undefined) grant.name = payload.v.n;
    if (payload.j) grant.jobs = payload.j;
    return grant;
  }

  #sign(body: string): string {
    return createHmac('sha256', this.#secret).update(body).digest('base64url');
  }
}
