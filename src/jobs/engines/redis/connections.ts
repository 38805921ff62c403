import type { Redis } from 'ioredis';
import { openRedis, quitRedis } from '../../../util/redis.js';

/**
 * How the Redis engine connects. Commands from API calls fail after a couple of reconnect attempts
 * (about a second) instead of waiting forever while Redis is down; the blocking reader and the
 * subscriber wait for Redis to come back, as they must.
 */
export interface RedisConnections {
  /** API commands (enqueue, get, list, cancel); fail fast while Redis is down. BullMQ's Queue shares it. */
  commands: Redis;
  /** Worker commands (claim, renew, finish, events); wait for Redis. BullMQ's Worker shares it. */
  work: Redis;
  /** XREAD BLOCK for live events; nothing else runs on it. */
  blocking: Redis;
  /** SUBSCRIBE for cancel requests. */
  subscriber: Redis;
}

export function connect(url: string, onError: (err: Error, which: string) => void): RedisConnections {
  // One report per outage and connection, not one per reconnect attempt.
  const open = (which: string, name: string, maxRetriesPerRequest: number | null, subscriber = false, commandTimeout?: number) =>
    openRedis(url, {
      name,
      maxRetriesPerRequest,
      subscriber,
      onDown: (err) => onError(err, which),
      extra: { connectTimeout: 5_000, lazyConnect: false, disconnectTimeout: 200, ...(commandTimeout ? { commandTimeout } : {}) },
    });
  return {
    // API calls answer within about a second while Redis is down (503, docs/operations.md): one
    // reconnect attempt (a refused connection fails in a few hundred ms), and no command waits more
    // than 2 s on a Redis that accepts but does not answer.
    commands: open('commands', 'tasklane:commands', 1, false, 2_000),
    work: open('work', 'tasklane:work', null),
    blocking: open('blocking', 'tasklane:events', null),
    subscriber: open('subscriber', 'tasklane:cancel', null, true),
  };
}

/**
 * Waits at most `ms` for every connection and for the subscription to `channel`; false when
 * Redis did not come up in time (the connections keep retrying in the background).
 */
export async function whenAllReady(conn: RedisConnections, channel: string, ms: number, onError: (err: Error) => void): Promise<boolean> {
  const whenReady = (c: Redis) =>
    c.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => c.once('ready', () => resolve()));
  const subscribed = whenReady(conn.subscriber).then(() => conn.subscriber.subscribe(channel));
  subscribed.catch(onError);
  let timer: NodeJS.Timeout | undefined;
  const all = Promise.all([subscribed, ...Object.values(conn).map((c) => whenReady(c as Redis))]).then(() => true);
  const ok = await Promise.race([all.catch(() => false), new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)))]);
  clearTimeout(timer);
  return ok;
}

/** QUIT with a bound; a connection that cannot say goodbye (Redis down) is dropped. */
export const quit = quitRedis;
