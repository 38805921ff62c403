import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClientKey } from '../config/index.js';
import { authError } from '../errors.js';

export type Scope = ClientKey['scopes'][number];

export interface Principal {
  /** Index of the matching key in server.apiKeys; -1 when auth is off (loopback, no keys). */
  keyIndex: number;
  scopes: Scope[];
  /** The key's name (owner of the jobs it makes); undefined when auth is off. */
  name?: string;
  tenant?: string;
  /** Which jobs the key sees besides its own (see server/ownership.ts). Default 'own'. */
  sees?: 'own' | 'tenant';
  /** Whether `x-tasklane-tenant` is honoured for this key. */
  tenantHeader?: boolean;
  /** The key's own request bucket (limits.requestsPerMinute), instead of server.rateLimit. */
  requestsPerMinute?: number;
  /** sha256 hex of the key (header auth), so a reload can tell whether this very key is still in force. */
  keyDigest?: string;
}

/**
 * Checks a bearer token against the configured client keys. Every key is compared in constant
 * time on its sha256 digest, so neither the length nor the content leaks through timing.
 */
export function createAuthenticator(keys: ClientKey[]): (header: string | undefined) => Principal {
  const digests = keys.map((k) => ({
    digest: k.hashed ? Buffer.from(k.value, 'hex') : sha256(k.value),
    principal: principalOf(k),
  }));
  if (digests.length === 0) {
    return () => ({ keyIndex: -1, scopes: ['ai', 'jobs:read', 'jobs:write', 'admin'] });
  }
  return (header) => {
    const token = bearer(header);
    if (!token) throw authError('TL_ERR_AUTH_MISSING');
    const digest = sha256(token);
    let match = -1;
    for (let i = 0; i < digests.length; i++) {
      // No early exit: every key is compared whatever matches.
      if (timingSafeEqual(digest, digests[i]!.digest) && match === -1) match = i;
    }
    if (match === -1) throw authError('TL_ERR_AUTH_INVALID');
    return { keyIndex: match, ...digests[match]!.principal, keyDigest: digests[match]!.digest.toString('hex') };
  };
}

function principalOf(k: ClientKey): Omit<Principal, 'keyIndex'> {
  const p: Omit<Principal, 'keyIndex'> = { scopes: k.scopes, name: k.name, sees: k.sees, tenantHeader: k.tenantHeader };
  if (k.tenant !== undefined) p.tenant = k.tenant;
  if (k.limits?.requestsPerMinute !== undefined) p.requestsPerMinute = k.limits.requestsPerMinute;
  return p;
}

export function requireScope(principal: Principal, scope: Scope): void {
  if (!principal.scopes.includes(scope) && !principal.scopes.includes('admin')) {
    throw authError('TL_ERR_AUTH_FORBIDDEN', `this key lacks the "${scope}" scope`);
  }
}

function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m?.[1]?.trim() || undefined;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
