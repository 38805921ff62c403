export { buildServer, type ServerContext, type ServerOptions, type RoutePlugin, type ReadinessCheck } from './app.js';
export { listen, type Listening } from './listen.js';
export { createAuthenticator, requireScope, type Principal, type Scope } from './auth.js';
