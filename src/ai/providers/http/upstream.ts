import { EnvHttpProxyAgent, Pool, ProxyAgent, util, type Dispatcher } from 'undici';
import { ClosedError } from '../../../errors.js';
import { withDeadline } from '../../../util/async.js';
import type { Logger } from '../../../runtime/logger.js';
import type { PhaseTimeouts, ProviderNetwork, ProviderSettings } from '../../provider.js';
import { CallGuard } from './call-guard.js';
import type { CallContext } from './provider-error.js';
import type { HeaderBag } from './retry-after.js';
import { UpstreamBody } from './upstream-body.js';

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
  /** Proxy and trusted CAs (ProviderSettings.network). */
  network?: ProviderNetwork;
}

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  /** Path under the base URL's path, e.g. `/chat/completions`. */
  path: string;
  body?: unknown;
  apiKey?: string;
  /** Extra headers of this call (e.g. a provider's own key header instead of a bearer token). */
  headers?: Record<string, string>;
  /** `path` is from the origin, not under the base URL's path. */
  fromOrigin?: boolean;
  accept?: string;
  ctx: CallContext;
  signal: AbortSignal;
  timeouts: PhaseTimeouts;
}

export interface UpstreamResponse {
  status: number;
  headers: HeaderBag;
  body: UpstreamBody;
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
  #pool: Dispatcher | undefined;
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
    this.#pool ??= this.#dispatcher(this.#opts.connectMs ?? r.timeouts.connectMs);
    const headers: Record<string, string> = { ...this.#opts.headers, accept: r.accept ?? 'application/json' };
    if (r.apiKey) headers.authorization = `Bearer ${r.apiKey}`;
    if (r.headers) Object.assign(headers, r.headers);
    let payload: string | undefined;
    if (r.body !== undefined) {
      payload = JSON.stringify(r.body);
      headers['content-type'] = 'application/json';
    }
    this.#active.add(guard);
    try {
      return await new Promise<UpstreamResponse>((resolve, reject) => {
        const call = new UpstreamCall(guard, resolve, reject, () => this.#active.delete(guard));
        guard.onAbort = (err) => call.abort(err);
        this.#pool!.dispatch(
          {
            origin: this.#origin,
            path: r.fromOrigin ? r.path : this.#prefix + r.path,
            method: r.method,
            headers,
            ...(payload === undefined ? {} : { body: payload }),
          },
          call,
        );
      });
    } catch (err) {
      const e = guard.errorFor(err);
      guard.finish();
      this.#active.delete(guard);
      throw e;
    }
  }

  /**
   * A Pool to the origin; through a proxy, undici's ProxyAgent (one CONNECT tunnel per connection)
   * or EnvHttpProxyAgent (HTTPS_PROXY / HTTP_PROXY / NO_PROXY, decided per call), with the same
   * connection bound. Extra CAs apply to the TLS to the provider, inside a tunnel too.
   */
  #dispatcher(connectMs: number): Dispatcher {
    const n = this.#opts.network;
    const tls = { timeout: connectMs, ...(n?.ca ? { ca: n.ca } : {}) };
    // Our own deadlines (CallGuard) apply; undici's would fire with less precise phases.
    const common = { connections: this.#opts.connections, headersTimeout: 0, bodyTimeout: 0 };
    if (n?.proxy) return new ProxyAgent({ ...common, uri: n.proxy, requestTls: tls, proxyTls: { timeout: connectMs } });
    if (n?.proxyEnv)
      return new EnvHttpProxyAgent({ ...common, ...n.proxyEnv, connect: tls, requestTls: tls, proxyTls: { timeout: connectMs } });
    return new Pool(this.#origin, { ...common, connect: tls });
  }

  /** Aborts calls still running, then closes the pool (destroying it if it does not close in time). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#active.size > 0)
        this.#opts.log?.debug({ calls: this.#active.size }, `closing provider "${this.#opts.name}": aborting calls still running`);
      for (const g of this.#active) g.abort();
      this.#active.clear();
      const pool = this.#pool;
      if (!pool) return;
      const late = Symbol('late');
      try {
        await withDeadline(pool.close(), 2_000, () => late);
      } catch (err) {
        if (err !== late) throw err;
        this.#opts.log?.debug(`provider "${this.#opts.name}": pool did not close in time, destroying it`);
        await pool.destroy();
      }
    })();
    return this.#closing;
  }
}

/** The one Upstream of a configured provider (its pool, headers and connect timeout). */
export function upstreamFor(name: string, config: ProviderSettings, options: { log?: Logger } = {}): Upstream {
  return new Upstream({
    name,
    baseURL: config.baseURL,
    connections: config.connections,
    headers: config.headers,
    ...(options.log ? { log: options.log } : {}),
    ...(config.timeouts?.connectMs === undefined ? {} : { connectMs: config.timeouts.connectMs }),
    ...(config.network ? { network: config.network } : {}),
  });
}

/**
 * undici's handler for one call: resolves at the headers with a body that undici fills, and turns
 * an abort (deadline, caller, close) into undici's own, before or after the headers.
 */
class UpstreamCall implements Dispatcher.DispatchHandler {
  readonly #guard: CallGuard;
  readonly #resolve: (res: UpstreamResponse) => void;
  readonly #reject: (err: unknown) => void;
  readonly #done: () => void;
  #abort: ((err: Error) => void) | undefined;
  #reason: Error | undefined;
  #body: UpstreamBody | undefined;
  #over = false;

  constructor(guard: CallGuard, resolve: (res: UpstreamResponse) => void, reject: (err: unknown) => void, done: () => void) {
    this.#guard = guard;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#done = done;
  }

  /** Drops the request: at once if it is on a socket, else as soon as it gets one. */
  abort(err: Error): void {
    if (this.#over) return;
    this.#reason ??= err;
    if (this.#abort) this.#abort(err);
    else if (!this.#body) this.#reject(err);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.#reason) abort(this.#reason);
    else this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.#guard.headers();
    this.#body = new UpstreamBody(this.#guard, resume, (err) => this.abort(err));
    this.#resolve({ status: statusCode, headers: util.parseHeaders(rawHeaders) as HeaderBag, body: this.#body, guard: this.#guard });
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.#body!.push(chunk);
  }

  onComplete(): void {
    this.#finish();
    this.#body!.end();
  }

  onError(err: Error): void {
    this.#finish();
    if (this.#body) this.#body.fail(err);
    else this.#reject(err);
  }

  #finish(): void {
    this.#over = true;
    this.#abort = undefined;
    this.#done();
  }
}
