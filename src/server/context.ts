/**
 * What every route plugin receives from the server, in a file of its own so that routes do not
 * import the app that registers them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Runtime } from '../create-runtime.js';
import type { Principal, Scope } from './auth.js';
import type { Keyring } from './keyring.js';
import type { StreamSlots } from './stream-slots.js';
import type { Dialect } from './streams/wire-errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
    /** The W3C traceparent of this request's server span: the parent of the spans it causes (AI calls, jobs). */
    traceparent: string;
  }
  interface FastifyContextConfig {
    /** Route needs no client key (health, metrics, static assets). */
    public?: boolean;
    /** The error shape this route's clients parse; default `tasklane` (`{error:{code,message}}`). */
    dialect?: Dialect;
  }
}

/** A readiness check: true when ready, false or a reason when not. */
export type ReadinessCheck = () => boolean | string | Promise<boolean | string>;

/** What every route plugin receives. */
export interface ServerContext {
  runtime: Runtime;
  /** Named readiness checks that /readyz runs (the job store, Redis...). */
  readiness: Map<string, ReadinessCheck>;
  /** Throws 403 unless the request's key has the scope. */
  requireScope(req: FastifyRequest, scope: Scope): void;
  /** Open-stream slots per client key (server.maxStreamsPerKey). */
  streams: StreamSlots;
  /** The client keys in force (replaced by a reload; streams of revoked keys end). */
  keyring: Keyring;
  /** Takes a token from the key's bucket (server.rateLimit); throws 429 when it is empty. */
  rateLimit(principal: Principal): void;
}

export type RoutePlugin = (app: FastifyInstance, ctx: ServerContext) => Promise<void>;

export interface ServerOptions {
  /** Extra route plugins, registered after the built-in ones (examples use this). */
  routes?: RoutePlugin[];
}
