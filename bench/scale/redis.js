// bench/scale, Redis side: memory per queued job against raw BullMQ (every key of each side's
// prefix, MEMORY USAGE), a claim for a task with nothing queued, lists and counts, at one backlog size.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { RedisJobEngine } from '../../dist/jobs/engines/redis/redis-engine.js';
import { keyBytes, unlinkAll } from './redis-memory.js';

const URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t0) => performance.now() - t0;
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function redisScale(n) {
  const tag = Math.random().toString(16).slice(2, 8);
  const ours = `tlbench:scale:${tag}`;
  const bull = `tlbench:scalebull:${tag}`;
  const redis = new Redis(URL);
  const out = { engine: 'redis', backlog: n };
  try {
    // Raw BullMQ, the same jobs (data { i }, a priority, removed when done).
    const qc = new Redis(URL, { maxRetriesPerRequest: null });
    const q = new Queue('q.backlog', { connection: qc, prefix: bull });
    for (let i = 0; i < n; i += 1000) {
      await q.addBulk(
        Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({
          name: 'backlog',
          data: { i: i + k },
          opts: { priority: 1_048_576, attempts: 1, removeOnComplete: true, removeOnFail: true },
        })),
      );
    }
    await q.close();
    qc.disconnect();
    out.bullmq_bytes_per_job = Math.round((await keyBytes(redis, bull)).bytes / n);
    await unlinkAll(redis, bull);

    const engine = new RedisJobEngine({ url: URL, prefix: ours, leaseMs: 30_000, onError: () => {} });
    await engine.start();
    let t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        while (next < n) {
          const i = next++;
          await engine.enqueue('backlog', { i }, { maxAttempts: 3 });
        }
      }),
    );
    out.fill_s = round(ms(t0) / 1000, 1);
    for (let i = 0; i < 5; i++) {
      await engine.enqueue('rare', i, { maxAttempts: 1 });
      const c = await engine.claim('w', { tasks: ['rare'], leaseMs: 10_000 });
      await engine.finish(c.job.id, c.token, { outcome: 'dead', error: { code: 'X', message: 'x' } });
    }
    out.tasklane_bytes_per_job = Math.round((await keyBytes(redis, ours)).bytes / n);
    out.memory_ratio = round(out.tasklane_bytes_per_job / out.bullmq_bytes_per_job);
    const time = async (f, k = 15) => {
      const xs = [];
      for (let i = 0; i < k; i++) {
        t0 = performance.now();
        await f();
        xs.push(ms(t0));
      }
      return round(median(xs), 3);
    };
    out.idle_claim_ms = await time(() => engine.claim('w', { tasks: ['idle'], leaseMs: 10_000 }), 30);
    out.list_queued_5_ms = await time(() => engine.list({ state: 'queued', limit: 5 }));
    out.list_dead_ms = await time(() => engine.list({ state: 'dead', limit: 50 }));
    out.list_task_state_ms = await time(() => engine.list({ task: 'rare', state: 'dead', limit: 50 }));
    const deep = (await engine.list({ limit: 500 })).next;
    out.list_cursor_page_ms = await time(() => engine.list({ limit: 50, cursor: deep }));
    out.counts_ms = await time(() => engine.counts(['backlog', 'rare', 'idle']));
    await engine.close();
  } finally {
    await unlinkAll(redis, ours);
    await unlinkAll(redis, bull);
    redis.disconnect();
  }
  return out;
}
