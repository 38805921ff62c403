export { buildServer } from './app.js';
export type { ServerContext, ServerOptions, RoutePlugin, ReadinessCheck } from './context.js';
export { listen, type Listening } from './listen.js';
export { createAuthenticator, requireScope, type Principal, type Scope } from './auth.js';
