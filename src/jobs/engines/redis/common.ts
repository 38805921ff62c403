import type { Redis } from 'ioredis';
import { StoreError, TasklaneError } from '../../../errors.js';

/** A connection with the engine's Lua scripts defined on it (see scripts.ts). */
export type Scripted = Redis & Record<string, (...args: Array<string | number>) => Promise<unknown>>;

/**
 * A Redis failure as a store error. A reply from Redis (a script's error) keeps its text; a
 * connection failure (refused, timed out, ioredis giving up after its retries) names the store's
 * address (never the password) and what to check, instead of ioredis's internal message.
 */
export function storeError(err: unknown, client?: Pick<Redis, 'options'>): TasklaneError {
  if (TasklaneError.isInstance(err)) return err;
  const e = err as Error;
  if (e?.name === 'ReplyError') return new StoreError('TL_ERR_STORE_UNAVAILABLE', `redis: ${e.message}`, { cause: err });
  const at = client?.options ? ` at ${client.options.host ?? '127.0.0.1'}:${client.options.port ?? 6379}` : '';
  return new StoreError(
    'TL_ERR_STORE_UNAVAILABLE',
    `the Redis job store${at} is unreachable (${reason(e)}): check that redis-server runs there and that store.url points at it; jobs resume when it is back`,
    { cause: err, details: { retryAfterMs: 1_000 } },
  );
}

function reason(e: Error | undefined): string {
  const m = e?.message ?? String(e);
  if (/max retries per request|Connection is closed|Stream isn't writeable/i.test(m)) return 'not connected';
  if (/timed out/i.test(m)) return 'no answer within 2 s';
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code ?? m.slice(0, 80);
}

/** A BullMQ call, its failure typed as a store error. */
export async function bull<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw storeError(err);
  }
}

/** Runs one of our scripts: keys, then the prefix and clock every script takes first, then its arguments. */
export async function callScript(
  client: Scripted,
  prefix: string,
  name: string,
  keys: string[],
  args: Array<string | number>,
  now = Date.now(),
): Promise<unknown> {
  try {
    return await client[name]!(...keys, prefix, now, ...args);
  } catch (err) {
    throw storeError(err, client);
  }
}
