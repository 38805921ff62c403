import type { FastifyRequest } from 'fastify';
import { requestRefused } from '../errors.js';

/**
 * What keeps a server with no client keys safe from the operator's own browser. Without keys any
 * page the operator visits could call it: a DNS-rebinding page reaches 127.0.0.1 under its own
 * name, a cross-site form posts `text/plain` without a preflight, and a WebSocket opens cross-origin.
 * So, with no keys:
 * - the Host header must be a loopback name, the address the connection came in on, or one of
 *   `server.allowedHosts` (a rebinding page sends its own name);
 * - a state-changing request or a WebSocket upgrade that carries an `Origin` must be same-origin
 *   or one of `server.allowedOrigins` (clients that are not browsers send none).
 * With or without keys, a POST with a form or text/plain body (what a cross-site page sends
 * without a preflight) is refused before it reaches a handler.
 */
export interface EdgeOptions {
  /** No client keys configured: the Host and Origin checks apply. */
  open: boolean;
  allowedHosts: string[];
  allowedOrigins: string[];
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function edgeGuard(options: EdgeOptions): (req: FastifyRequest) => void {
  const hosts = new Set(options.allowedHosts.map((h) => h.toLowerCase().replace(/\.$/, '')));
  const origins = new Set(options.allowedOrigins.map(normalOrigin).filter((o): o is string => o !== undefined));
  return (req) => {
    const method = req.method;
    if (!SAFE_METHODS.has(method)) requireJsonBody(req);
    if (!options.open) return;
    const host = req.headers.host;
    if (host !== undefined && !hostAllowed(host, req.socket.localAddress, hosts)) {
      throw requestRefused(
        'TL_ERR_HOST_REFUSED',
        `Host "${printable(host)}" is not an address this server answers to without client keys: call it as 127.0.0.1 or localhost, add the name to server.allowedHosts, or set server.apiKeys`,
      );
    }
    const origin = req.headers.origin;
    const upgrade = typeof req.headers.upgrade === 'string' && req.headers.upgrade.toLowerCase() === 'websocket';
    if (origin !== undefined && (upgrade || !SAFE_METHODS.has(method)) && !originAllowed(origin, host, origins)) {
      throw requestRefused(
        'TL_ERR_ORIGIN_REFUSED',
        `a ${upgrade ? 'WebSocket' : method} request from Origin "${printable(origin)}" is refused without client keys: only same-origin pages may change state; add the origin to server.allowedOrigins or set server.apiKeys`,
      );
    }
  };
}

/**
 * The content types a page on another site can POST without a CORS preflight (a form, or fetch in
 * no-cors mode): refused, body or not, so no cross-site request reaches a handler. Any other type
 * needs a preflight the server never grants cross-origin, and meets the route's parsers (the
 * built-in routes parse application/json only: anything else is 415 there too).
 */
const SIMPLE_TYPES = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);

function requireJsonBody(req: FastifyRequest): void {
  const type = req.headers['content-type'];
  if (type === undefined) return;
  const media = type.split(';')[0]!.trim().toLowerCase();
  if (SIMPLE_TYPES.has(media)) {
    throw requestRefused(
      'TL_ERR_UNSUPPORTED_MEDIA_TYPE',
      `content-type "${printable(type)}" is not accepted: send the body as application/json`,
    );
  }
}

const LOOPBACK_V4 = /^127(\.\d{1,3}){3}$/;

/** The name part of a Host header (`name:port`, `[v6]:port`), lowercased, without a trailing dot. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.lastIndexOf(':');
  return (colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h).replace(/\.$/, '');
}

function hostAllowed(host: string, localAddress: string | undefined, allowed: Set<string>): boolean {
  const name = hostName(host);
  if (name === 'localhost' || name.endsWith('.localhost') || name === '::1' || LOOPBACK_V4.test(name)) return true;
  if (allowed.has(name) || allowed.has(host.trim().toLowerCase())) return true;
  if (localAddress) {
    const local = localAddress.toLowerCase().replace(/^::ffff:/, '');
    if (name === local) return true;
  }
  return false;
}

function originAllowed(origin: string, host: string | undefined, allowed: Set<string>): boolean {
  const normal = normalOrigin(origin);
  if (normal === undefined) return false;
  if (allowed.has(normal)) return true;
  if (host === undefined) return false;
  return normal === `http://${host.trim().toLowerCase()}` || normal === `https://${host.trim().toLowerCase()}`;
}

function normalOrigin(origin: string): string | undefined {
  if (origin === 'null') return undefined;
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return u.origin.toLowerCase();
  } catch {
    return undefined;
  }
}

/** A header value fit to quote in a message: no control characters, at most 100 characters. */
function printable(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 100 ? `${clean.slice(0, 100)}…` : clean;
}
