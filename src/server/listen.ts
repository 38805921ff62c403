import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../create-runtime.js';
import { buildServer } from './app.js';
import type { ServerOptions } from './context.js';
import { refuseInLaneThread } from '../lanes/thread-guard.js';
import { ConfigError } from '../errors.js';

export interface Listening {
  app: FastifyInstance;
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  host: string;
  port: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * Starts the runtime and its HTTP server. With no client keys configured it binds to loopback
 * only: asking for another address then fails with a ConfigError that says how to fix it (it used
 * to bind to 127.0.0.1 quietly, which looks like a working server nobody can reach). A port in
 * use is a ConfigError too, naming the port and the way to choose another.
 */
export async function listen(runtime: Runtime, options: ServerOptions & { host?: string; port?: number } = {}): Promise<Listening> {
  refuseInLaneThread('listen()');
  const host = options.host ?? runtime.config.server.host;
  const port = options.port ?? runtime.config.server.port;
  if (runtime.config.server.apiKeys.length === 0 && !LOOPBACK.has(host)) {
    throw new ConfigError(
      `server.host is ${host} but no client keys are configured, and an open gateway on the network would spend your providers' keys for anyone; add server.apiKeys (e.g. ["env:TASKLANE_CLIENT_KEY"]) to the config file, or bind to 127.0.0.1 (--host 127.0.0.1)`,
      { details: { setting: 'server.apiKeys', host } },
    );
  }
  const app = await buildServer(runtime, options);
  await runtime.start();
  try {
    await app.listen({ host, port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConfigError(
        `port ${port} on ${host} is already in use; choose another with --port N (server.port, TASKLANE_PORT), or --port 0 for a free one`,
        {
          cause: err,
          details: { setting: 'server.port', port, host },
        },
      );
    }
    throw err;
  }
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { app, url: `http://${shownHost}:${actualPort}`, host, port: actualPort };
}
