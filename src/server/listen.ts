import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../create-runtime.js';
import { buildServer } from './app.js';
import type { ServerOptions } from './context.js';
import { refuseInLaneThread } from '../lanes/thread-guard.js';

export interface Listening {
  app: FastifyInstance;
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  host: string;
  port: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * Starts the runtime and its HTTP server. With no client keys configured the server binds to
 * loopback only, whatever host was asked for, and logs why.
 */
export async function listen(runtime: Runtime, options: ServerOptions & { host?: string; port?: number } = {}): Promise<Listening> {
  refuseInLaneThread('listen()');
  let host = options.host ?? runtime.config.server.host;
  const port = options.port ?? runtime.config.server.port;
  if (runtime.config.server.apiKeys.length === 0 && !LOOPBACK.has(host)) {
    runtime.log.warn({ asked: host }, 'no server.apiKeys configured: binding to 127.0.0.1 only; set server.apiKeys to listen on other addresses');
    host = '127.0.0.1';
  }
  const app = await buildServer(runtime, options);
  await runtime.start();
  await app.listen({ host, port });
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { app, url: `http://${shownHost}:${actualPort}`, host, port: actualPort };
}
