/** The Redis engine's entry, imported on demand (src/jobs/engines/index.ts) so SQLite-only processes never load BullMQ or ioredis. */
export { RedisJobEngine, type RedisEngineOptions } from './redis-engine.js';
