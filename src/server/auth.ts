import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClientKey } from '../config/index.js';
import { TasklaneError } from '../errors.js';

export type Scope = ClientKey['scopes'][number];

export interface Principal {
  /** Index of the matching key in server.apiKeys; -1 when auth is off (loopback, no keys). */
  keyIndex: number;
  scopes: Scope[];
}

/**
 * Checks a bearer token against the configured client keys. Every key is compared in constant
 * time on its sha256 digest, so neither the length nor the content leaks through timing.
 */
export function createAuthenticator(keys: ClientKey[]): (header: string | undefined) => Principal {
  const digests = keys.map((k) => ({
    digest: k.hashed ? Buffer.from(k.value, 'hex') : sha256(k.value),
    scopes: k.scopes,
  }));
  if (digests.length === 0) {
    return () => ({ keyIndex: -1, scopes: ['ai', 'jobs:read', 'jobs:write', 'admin'] });
  }
  return (header) => {
    const token = bearer(header);
    if (!token) throw new TasklaneError('TL_ERR_AUTH_MISSING');
    const digest = sha256(token);
    let match = -1;
    for (let i = 0; i < digests.length; i++) {
      // No early exit: every key is compared whatever matches.
      if (timingSafeEqual(digest, digests[i]!.digest) && match === -1) match = i;
    }
    if (match === -1) throw new TasklaneError('TL_ERR_AUTH_INVALID');
    return { keyIndex: match, scopes: digests[match]!.scopes };
  };
}

export function requireScope(principal: Principal, scope: Scope): void {
  if (!principal.scopes.includes(scope) && !principal.scopes.includes('admin')) {
    throw new TasklaneError('TL_ERR_AUTH_FORBIDDEN', `this key lacks the "${scope}" scope`);
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
