import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** The Redis the tests share; each test file works under its own random key prefix. */
export const REDIS_HOST = '127.0.0.1';
export const REDIS_PORT = 6379;
export const REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}`;

/**
 * Fails (never skips) when Redis does not answer, with a message that says how to fix it.
 * Call it in beforeAll of every test file that needs Redis.
 */
export async function requireRedis(url = REDIS_URL): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000 });
  client.on('error', () => {}); // the failure is reported below, with the fix
  try {
    await client.connect();
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`unexpected PING answer ${pong}`);
  } catch (err) {
    throw new Error(`Redis not reachable at ${url.replace('redis://', '')}: start redis-server or run .ci/run (${(err as Error).message})`);
  } finally {
    client.disconnect();
  }
}

/** A fresh prefix for one test file, e.g. `tltest:fleet:3f9a1c`. */
export function testPrefix(name: string): string {
  return `tltest:${name}:${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under a prefix (SCAN + UNLINK, so it never blocks the shared Redis). */
export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return deleted;
}

/** A free loopback TCP port (bind to 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface OwnRedis {
  port: number;
  url: string;
  /** Kills the server (SIGKILL) and waits for the process to exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after kill). */
  restart(): Promise<void>;
}

/** A private redis-server on a random port, child of this process, without persistence. */
export async function spawnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      {
        stdio: 'ignore',
      },
    );
    const spawned = child;
    await new Promise<void>((resolve, reject) => {
      spawned.once('error', (err) => reject(new Error(`cannot start redis-server (is it installed? run .ci/run): ${err.message}`)));
      spawned.once('spawn', () => resolve());
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await requireRedis(url);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  await start();
  return {
    port,
    url,
    async kill() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    },
    restart: start,
  };
}
