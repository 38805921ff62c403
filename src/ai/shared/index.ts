import { StoreError } from '../../errors.js';
import type { Host } from '../../runtime/host.js';
import { withDeadline } from '../../util/async.js';
import { openRedis, quitRedis } from '../../util/redis.js';
import type { AttachAiOptions, CachedAnswer } from '../index.js';
import { RedisBreakerBoard } from './redis-breaker-board.js';
import { RedisResponseCache } from './redis-cache.js';
import { RedisCooldownStore } from './redis-cooldown-store.js';
import { RedisTimers } from './redis-timers.js';
import { RedisSpendStore } from './redis-spend-store.js';

export { RedisBreakerBoard, RedisCooldownStore, RedisResponseCache, RedisTimers };

/** Longest wait at start for Redis before going on with an empty mirror (it fills on reconnect). */
const START_WAIT_MS = 3_000;

/**
 * The orchestrator's shared state when the store is Redis: key cooldowns and open breakers
 * honoured by every process, and (with `ai.cache.backend: "redis"`) one response cache for the
 * fleet. Loaded through import() (see ../shared-state.ts) only when the store is Redis.
 * Registers its closer before the orchestrator's, so it closes after it.
 */
export function sharedAiOptions(runtime: Host): AttachAiOptions {
  const { store, ai } = runtime.config;
  if (store.engine !== 'redis') return {};
  const log = runtime.log.child({ subsystem: 'ai-shared' });
  const report = (err: Error) =>
    runtime.reportError(
      new StoreError('TL_ERR_STORE_UNAVAILABLE', `shared AI state on redis: ${runtime.scrub(err.message)}`, { cause: err }),
    );
  // One line per outage for both connections, not one per reconnect attempt.
  let downLogged = false;
  const onDown = (err: Error) => {
    if (!downLogged)
      log.warn({ err: runtime.scrub(err.message) }, 'shared AI state: redis unreachable; using local state until it is back');
    downLogged = true;
  };
  const onUp = () => {
    downLogged = false;
  };
  // Reads come from local mirrors, so commands may fail fast while Redis is down.
  const redis = openRedis(store.url, { name: 'tasklane:ai', maxRetriesPerRequest: 1, onDown, onUp });
  // RedisTimers waits for 'ready' before subscribing.
  const subscriber = openRedis(store.url, { name: 'tasklane:ai-sub', maxRetriesPerRequest: null, subscriber: true, onDown, onUp });
  const prefix = `${store.prefix}:ai`;
  // Registries (one sorted set each), not keys found by SCAN: start-up reads only live entries.
  const cooldownTimers = new RedisTimers({ redis, subscriber, prefix: `${prefix}:cool`, onError: report, maxEntries: ai.maxTrackedPairs });
  const breakerTimers = new RedisTimers({
    redis,
    subscriber,
    prefix: `${prefix}:breaker`,
    onError: report,
    maxEntries: ai.maxTrackedPairs,
  });
  runtime.onStart('ai-shared-state', async () => {
    const loaded = Promise.all([cooldownTimers.start(), breakerTimers.start()]).then(() => true);
    loaded.catch(report);
    const ok = await withDeadline(loaded, START_WAIT_MS, () => false).catch(() => false);
    if (!ok)
      log.warn(
        { waitedMs: START_WAIT_MS },
        'shared AI state not loaded from redis yet; starting with local state, it fills in when redis answers',
      );
  });
  runtime.onClose('ai-shared-state', async () => {
    await Promise.all([cooldownTimers.close(), breakerTimers.close()]);
    for (const c of [subscriber, redis]) await quitRedis(c, 500);
  });
  return {
    cooldowns: new RedisCooldownStore(cooldownTimers, report),
    board: new RedisBreakerBoard(breakerTimers, report),
    spend: new RedisSpendStore(redis, `${store.prefix}:spend`),
    ...(ai.cache.backend === 'redis'
      ? { cache: new RedisResponseCache<CachedAnswer>({ redis, prefix: `${prefix}:cache`, ttlMs: ai.cache.ttlMs, onError: report }) }
      : {}),
  };
}
