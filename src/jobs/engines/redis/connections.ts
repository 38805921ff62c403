import { Redis, type RedisOptions } from 'ioredis';

/**
 * How the Redis engine connects. Commands from API calls fail after a couple of reconnect attempts
 * (about a second) instead of waiting forever while Redis is down; the blocking reader and the
 * subscriber wait for Redis to come back, as they must.
 */
export function retryDelay(times: number): number {
  return Math.min(100 * 2 ** Math.min(times, 4), 1_000);
}

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
  const base: RedisOptions = { retryStrategy: retryDelay, connectTimeout: 5_000, lazyConnect: false };
  const commands = new Redis(url, { ...base, maxRetriesPerRequest: 2, connectionName: 'tasklane:commands' });
  const work = new Redis(url, { ...base, maxRetriesPerRequest: null, connectionName: 'tasklane:work' });
  const blocking = new Redis(url, { ...base, maxRetriesPerRequest: null, connectionName: 'tasklane:events' });
  // No ready check (INFO) on the subscriber: it can race the SUBSCRIBE and fail in subscriber mode.
  const subscriber = new Redis(url, { ...base, maxRetriesPerRequest: null, connectionName: 'tasklane:cancel', enableReadyCheck: false });
  for (const [which, c] of Object.entries({ commands, work, blocking, subscriber })) {
    // One report per outage and connection, not one per reconnect attempt.
    let reported = false;
    c.on('error', (err: Error) => {
      if (!reported) onError(err, which);
      reported = true;
    });
    c.on('ready', () => {
      reported = false;
    });
  }
  return { commands, work, blocking, subscriber };
}

/** QUIT with a bound; a connection that cannot say goodbye (Redis down) is dropped. */
export async function quit(client: Redis, ms = 1_000): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([client.quit().catch(() => {}), new Promise((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
