/**
 * The one way tasklane opens a Redis connection (the job engine and the fleet's shared AI state
 * both use it). Loaded only by the Redis modules, which are themselves imported on demand, so a
 * SQLite-only process never loads ioredis.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { waitAtMost } from './async.js';

/** Reconnect delays: 100 ms doubling to 1 s, for as long as Redis is away. */
export function redisRetryDelay(times: number): number {
  return Math.min(100 * 2 ** Math.min(times, 4), 1_000);
}

export interface RedisConnectionOptions {
  /** Shown by CLIENT LIST (`tasklane:<role>`). */
  name: string;
  /**
   * Reconnect attempts a command waits through before it fails; null waits for Redis to come
   * back (blocking readers, subscribers, workers).
   */
  maxRetriesPerRequest: number | null;
  /**
   * A subscriber connection: no ready check (INFO), as it can race a SUBSCRIBE sent at connect
   * and fail with "Connection in subscriber mode".
   */
  subscriber?: boolean;
  /** Called once per outage (not once per reconnect attempt), with the first error. */
  onDown?: (err: Error) => void;
  /** Called when the connection is ready again. */
  onUp?: () => void;
  /** Other ioredis options (connectTimeout...). */
  extra?: RedisOptions;
}

export function openRedis(url: string, options: RedisConnectionOptions): Redis {
  const client = new Redis(url, {
    retryStrategy: redisRetryDelay,
    ...options.extra,
    maxRetriesPerRequest: options.maxRetriesPerRequest,
    connectionName: options.name,
    ...(options.subscriber ? { enableReadyCheck: false } : {}),
  });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) options.onDown?.(err);
    down = true;
  });
  client.on('ready', () => {
    down = false;
    options.onUp?.();
  });
  return client;
}

/** QUIT with a bound; a connection that cannot say goodbye (Redis down) is dropped. */
export async function quitRedis(client: Redis, ms = 1_000): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') await waitAtMost(client.quit(), ms);
  client.disconnect();
}
