// Redis memory per queued job: the Redis engine against raw BullMQ, N jobs each, every key of
// each side's prefix summed with MEMORY USAGE (so other users of the same Redis do not count).
// Usage: node bench/scale/redis-memory.js [N]. Prints one JSON line.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { RedisJobEngine } from '../../dist/jobs/engines/redis/redis-engine.js';

const N = Number(process.argv[2] ?? process.env.BENCH_JOBS ?? 20_000);
const URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const tag = Math.random().toString(16).slice(2, 8);

export async function keyBytes(redis, prefix) {
  let cursor = '0';
  let bytes = 0;
  let keys = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (batch.length) {
      const pipe = redis.pipeline();
      for (const k of batch) pipe.memory('USAGE', k, 'SAMPLES', 0);
      for (const [, v] of await pipe.exec()) bytes += Number(v ?? 0);
      keys += batch.length;
    }
  } while (cursor !== '0');
  return { bytes, keys };
}

export async function unlinkAll(redis, prefix) {
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (batch.length) await redis.unlink(...batch);
  } while (cursor !== '0');
}

export async function measureRedisMemory(n, url = URL) {
  const redis = new Redis(url);
  const bullPrefix = `tlbench:mem:bull:${tag}`;
  const ourPrefix = `tlbench:mem:ours:${tag}`;
  try {
    const q = new Queue('q.bench', { connection: new Redis(url, { maxRetriesPerRequest: null }), prefix: bullPrefix });
    for (let i = 0; i < n; i += 500) {
      await q.addBulk(
        Array.from({ length: Math.min(500, n - i) }, (_, k) => ({
          name: 'bench',
          data: { i: i + k },
          opts: { priority: 1_048_576, attempts: 1, removeOnComplete: true, removeOnFail: true },
        })),
      );
    }
    await q.close();
    const engine = new RedisJobEngine({ url, prefix: ourPrefix, leaseMs: 30_000, onError: () => {} });
    await engine.start();
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < n) {
          const i = next++;
          await engine.enqueue('bench', { i }, { maxAttempts: 3 });
        }
      }),
    );
    await engine.close();
    const bull = await keyBytes(redis, bullPrefix);
    const ours = await keyBytes(redis, ourPrefix);
    return {
      jobs: n,
      bullmq_bytes_per_job: Math.round(bull.bytes / n),
      tasklane_bytes_per_job: Math.round(ours.bytes / n),
      ratio: +(ours.bytes / bull.bytes).toFixed(2),
      tasklane_keys_per_job: +(ours.keys / n).toFixed(2),
    };
  } finally {
    await unlinkAll(redis, bullPrefix);
    await unlinkAll(redis, ourPrefix);
    redis.disconnect();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify({ bench: 'scale-redis-memory', ...(await measureRedisMemory(N)) }));
  process.exit(0);
}
