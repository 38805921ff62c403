import { Redis } from 'ioredis';
import { ConfigError, StoreError } from '../../errors.js';
import type { Runtime } from '../../runtime/index.js';
import type { AttachAiOptions, CachedAnswer } from '../index.js';
import { RedisBreakerBoard } from './redis-breaker-board.js';
import { RedisResponseCache } from './redis-cache.js';
import { RedisCooldownStore } from './redis-cooldown-store.js';
import { RedisTimers } from './redis-timers.js';

export { RedisBreakerBoard, RedisCooldownStore, RedisResponseCache, RedisTimers };

/** Longest wait at start for Redis before going on with an empty mirror (it fills on reconnect). */
const START_WAIT_MS = 3_000;

/**
 * The orchestrator's shared state when the store is Redis: key cooldowns and open breakers
 * honoured by every process, and (with `ai.cache.backend: "redis"`) one response cache for the
 * fleet. Returns nothing to share when the store is SQLite. Registers its closer before the
 * orchestrator's, so it closes after it.
 */
export function sharedAiOptions(runtime: Runtime): AttachAiOptions {
  const { store, ai } = runtime.config;
  if (store.engine !== 'redis') {
    if (ai.cache.backend === 'redis') {
      throw new ConfigError('ai.cache.backend is "redis" but store.engine is not: set store.engine to "redis" (with store.url), or ai.cache.backend to "memory"');
    }
    return {};
  }
  const log = runtime.log.child({ subsystem: 'ai-shared' });
  const report = (err: Error) =>
    runtime.reportError(new StoreError('TL_ERR_STORE_UNAVAILABLE', `shared AI state on redis: ${runtime.scrub(err.message)}`, { cause: err }));
  const retryStrategy = (times: number) => Math.min(100 * 2 ** Math.min(times, 4), 1_000);
  // Reads come from local mirrors, so commands may fail fast while Redis is down.
  const redis = new Redis(store.url, { maxRetriesPerRequest: 1, retryStrategy, connectionName: 'tasklane:ai' });
  // No ready check (INFO) on the subscriber: it can race a SUBSCRIBE sent at connect and fail with
  // "Connection in subscriber mode"; RedisTimers waits for 'ready' before subscribing anyway.
  const subscriber = new Redis(store.url, { maxRetriesPerRequest: null, retryStrategy, connectionName: 'tasklane:ai-sub', enableReadyCheck: false });
  let downLogged = false;
  for (const c of [redis, subscriber]) {
    c.on('error', (err: Error) => {
      // One line per outage, not one per reconnect attempt.
      if (!downLogged) log.warn({ err: runtime.scrub(err.message) }, 'shared AI state: redis unreachable; using local state until it is back');
      downLogged = true;
    });
    c.on('ready', () => {
      downLogged = false;
    });
  }
  const prefix = `${store.prefix}:ai`;
  const cooldownTimers = new RedisTimers({ redis, subscriber, prefix: `${prefix}:cool`, onError: report });
  const breakerTimers = new RedisTimers({ redis, subscriber, prefix: `${prefix}:breaker`, onError: report });
  runtime.onStart('ai-shared-state', async () => {
    let timer: NodeJS.Timeout | undefined;
    const loaded = Promise.all([cooldownTimers.start(), breakerTimers.start()]).then(() => true);
    loaded.catch(report);
    const ok = await Promise.race([loaded.catch(() => false), new Promise<false>((r) => (timer = setTimeout(() => r(false), START_WAIT_MS)))]);
    clearTimeout(timer);
    if (!ok) log.warn({ waitedMs: START_WAIT_MS }, 'shared AI state not loaded from redis yet; starting with local state, it fills in when redis answers');
  });
  runtime.onClose('ai-shared-state', async () => {
    await Promise.all([cooldownTimers.close(), breakerTimers.close()]);
    for (const c of [subscriber, redis]) {
      if (c.status === 'ready') await Promise.race([c.quit().catch(() => {}), new Promise((r) => setTimeout(r, 500).unref())]);
      c.disconnect();
    }
  });
  return {
    cooldowns: new RedisCooldownStore(cooldownTimers, report),
    board: new RedisBreakerBoard(breakerTimers, report),
    ...(ai.cache.backend === 'redis' ? { cache: new RedisResponseCache<CachedAnswer>({ redis, prefix: `${prefix}:cache`, ttlMs: ai.cache.ttlMs, onError: report }) } : {}),
  };
}
