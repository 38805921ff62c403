import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import { ClosedError } from '../../../errors.js';
import type { ResolvedProvider } from '../../../config/index.js';
import type { Logger } from '../../../runtime/index.js';
import type { PhaseTimeouts } from '../../provider.js';
import { CallGuard } from './call-guard.js';
import type { CallContext } from './provider-error.js';
import type { HeaderBag } from './retry-after.js';

export interface UpstreamOptions {
  /** The provider's name, for errors. */
  name: string;
  baseURL: string;
  /** Most keep-alive connections. */
  connections: number;
  /** Extra headers on every call (already resolved secrets). */
  headers: Record<string, string>;
  log?: Logger;
  /** Connect timeout of the pool's connector when the provider sets one; else the first call's. */
  connectMs?: number;
}

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  /** Path under the base URL's path, e.g. `/chat/completions`. */
  path: string;
  body?: unknown;
  apiKey?: string;
  accept?: string;
  ctx: CallContext;
  signal: AbortSignal;
  timeouts: PhaseTimeouts;
}

export interface UpstreamResponse {
  status: number;
  headers: HeaderBag;
  body: Readable;
  /** Owns the call's deadlines; call `finish()` when done with the body, `abort()` to drop it. */
  guard: CallGuard;
}

/**
 * One provider's HTTP side: a keep-alive undici Pool to its origin and the per-call deadlines.
 * The Pool is made on first use (the connector's timeout is fixed per pool) and closed by close().
 */
export class Upstream {
  readonly #opts: UpstreamOptions;
  readonly #origin: string;
  readonly #prefix: string;
  readonly #active = new Set<CallGuard>();
  #pool: Pool | undefined;
  #closing: Promise<void> | undefined;

  constructor(opts: UpstreamOptions) {
    this.#opts = opts;
    const url = new URL(opts.baseURL);
    this.#origin = url.origin;
    this.#prefix = url.pathname.replace(/\/+$/, '');
  }

  /** Sends the request; resolves at the response headers (any status) with the body still to read. */
  async request(r: UpstreamRequest): Promise<UpstreamResponse> {
    if (this.#closing) throw new ClosedError(`provider "${this.#opts.name}"`);
    const guard = new CallGuard(r.ctx, r.timeouts, r.signal);
    if (guard.cause) throw guard.cause;
    this.#pool ??= new Pool(this.#origin, {
      connections: this.#opts.connections,
      connect: { timeout: this.#opts.connectMs ?? r.timeouts.connectMs },
      // Our own deadlines (CallGuard) apply; undici's would fire with less precise phases.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    const headers: Record<string, string> = { ...this.#opts.headers, accept: r.accept ?? 'application/json' };
    if (r.apiKey) headers.authorization = `Bearer ${r.apiKey}`;
    let payload: string | undefined;
    if (r.body !== undefined) {
      payload = JSON.stringify(r.body);
      headers['content-type'] = 'application/json';
    }
    this.#active.add(guard);
    const done = () => this.#active.delete(guard);
    guard.signal.addEventListener('abort', done, { once: true });
    try {
      const res = await this.#pool.request({
        origin: this.#origin,
        path: this.#prefix + r.path,
        method: r.method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        signal: guard.signal,
      });
      guard.headers();
      res.body.once('close', done);
      return { status: res.statusCode, headers: res.headers as HeaderBag, body: res.body, guard };
    } catch (err) {
      const e = guard.errorFor(err);
      guard.finish();
      done();
      throw e;
    }
  }

  /** Aborts calls still running, then closes the pool (destroying it if it does not close in time). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#active.size > 0) this.#opts.log?.debug({ calls: this.#active.size }, `closing provider "${this.#opts.name}": aborting calls still running`);
      for (const g of this.#active) g.abort();
      this.#active.clear();
      const pool = this.#pool;
      if (!pool) return;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), 2_000).unref()));
      try {
        if ((await Promise.race([pool.close().then(() => 'closed' as const), late])) === 'late') {
          this.#opts.log?.debug(`provider "${this.#opts.name}": pool did not close in time, destroying it`);
          await pool.destroy();
        }
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.#closing;
  }
}

/** The one Upstream of a configured provider (its pool, headers and connect timeout). */
export function upstreamFor(name: string, config: ResolvedProvider, options: { log?: Logger } = {}): Upstream {
  return new Upstream({
    name,
    baseURL: config.baseURL,
    connections: config.connections,
    headers: config.headers,
    ...(options.log ? { log: options.log } : {}),
    ...(config.timeouts?.connectMs === undefined ? {} : { connectMs: config.timeouts.connectMs }),
  });
}
