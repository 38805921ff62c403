import { hash } from 'node:crypto';
import { NATIVE } from './native.js';
import type { ChatRequest } from './types.js';

/**
 * Fields that change how an answer is delivered, not what it says: left out of the key so a
 * streamed answer can serve a later plain call (and the other way round).
 */
const DELIVERY_FIELDS = new Set(['stream', 'stream_options', 'user']);

/**
 * The key of a request for the cache and single-flight: a hash of its normalized JSON (top-level
 * fields in a fixed order, delivery fields dropped). sha1 is used for speed, not secrecy; the
 * input is the caller's own request.
 */
export function requestKey(req: ChatRequest): string {
  const names = Object.keys(req).sort();
  let text = '';
  for (const name of names) {
    if (DELIVERY_FIELDS.has(name)) continue;
    const value = req[name];
    if (value === undefined) continue;
    text += JSON.stringify(name) + ':' + JSON.stringify(value) + ',';
  }
  // A native body (kept beside a translated request) says more than its translation: it counts.
  const native = (req as { [NATIVE]?: unknown })[NATIVE];
  if (native !== undefined) text += 'native:' + JSON.stringify(native);
  return hash('sha1', text, 'base64url');
}
