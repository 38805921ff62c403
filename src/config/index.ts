export { loadConfig, parsePort, type ResolvedConfig, type ResolvedProvider, type ClientKey, type LoadOptions } from './load.js';
export { makeScrubber, resolveSecret } from './secrets.js';
export * from './schema.js';
