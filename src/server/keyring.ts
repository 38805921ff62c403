/**
 * The client keys in force, replaceable by a configuration reload. A key that leaves the set is
 * refused from its next request on (401), stream tokens minted with it stop opening streams
 * (TL_ERR_AUTH_REVOKED), and every stream opened with it ends with that code as its reason.
 */
import { createHash } from 'node:crypto';
import type { ClientKey } from '../config/index.js';
import { authError, type TasklaneError } from '../errors.js';
import { createAuthenticator, type Principal } from './auth.js';

/** Something a key holds open (an SSE response, a WebSocket) that ends when the key is revoked. */
export type Revocable = (reason: TasklaneError) => void;

export class Keyring {
  #authenticate: (header: string | undefined) => Principal;
  #digests: Set<string>;
  #names: Set<string>;
  readonly #open = new Map<Revocable, Principal>();
  /** Whether auth is on (any key configured); switching it on or off needs a restart. */
  readonly enabled: boolean;

  constructor(keys: ClientKey[]) {
    this.enabled = keys.length > 0;
    this.#authenticate = createAuthenticator(keys);
    this.#digests = digestsOf(keys);
    this.#names = new Set(keys.map((k) => k.name));
  }

  /** The principal of an Authorization header (401 when it names no key in force). */
  authenticate(header: string | undefined): Principal {
    return this.#authenticate(header);
  }

  /** Whether the key behind a principal (a header's key, or the key a token was minted with) is still in force. */
  inForce(principal: Principal): boolean {
    if (principal.name === undefined) return true;
    if (principal.keyDigest !== undefined) return this.#digests.has(principal.keyDigest);
    return this.#names.has(principal.name);
  }

  /** TL_ERR_AUTH_REVOKED unless the principal's key is in force. */
  assertInForce(principal: Principal): void {
    if (!this.inForce(principal)) throw revoked();
  }

  /** Tracks something open under a principal until the returned function is called. */
  hold(principal: Principal, end: Revocable): () => void {
    this.#open.set(end, principal);
    return () => this.#open.delete(end);
  }

  /** Puts a new key set in force and ends what revoked keys hold open. Returns how many ended. */
  replace(keys: ClientKey[]): number {
    this.#authenticate = createAuthenticator(keys);
    this.#digests = digestsOf(keys);
    this.#names = new Set(keys.map((k) => k.name));
    let ended = 0;
    for (const [end, principal] of [...this.#open]) {
      if (this.inForce(principal)) continue;
      this.#open.delete(end);
      ended++;
      end(revoked());
    }
    return ended;
  }
}

function revoked(): TasklaneError {
  return authError(
    'TL_ERR_AUTH_REVOKED',
    'the client key of this stream was revoked (removed from server.apiKeys by a configuration reload)',
  );
}

function digestsOf(keys: ClientKey[]): Set<string> {
  return new Set(keys.map((k) => (k.hashed ? k.value : digest(k.value))));
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
