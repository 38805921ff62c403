/** tasklane's public API: everything an application or example needs, nothing more. */
export * from './errors.js';
export { loadConfig, type ResolvedConfig, type ConfigInput, type LoadOptions } from './config/index.js';
export { Runtime, createRuntime, type RuntimeOptions, type CloseReport, type LoopSnapshot, type Logger } from './runtime/index.js';
export { buildServer, listen, type ServerContext, type ServerOptions, type RoutePlugin, type Listening } from './server/index.js';
