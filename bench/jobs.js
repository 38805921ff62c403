// No-op job throughput (enqueue + run + complete) and enqueue→start latency: tasklane's SQLite
// engine and tasklane's Redis engine against BullMQ on the local Redis (127.0.0.1:6379, own prefix,
// removed afterwards), same concurrency, same number of enqueues in flight. Also the worst event-loop delay while tasklane
// runs (better-sqlite3 is synchronous). Needs `npm run build` (uses dist/). Prints one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createRuntime, defineTask } from '../dist/index.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 5_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 200);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const deadline = Date.now() + 55_000;

/** Calls `enqueue(i)` JOBS times with IN_FLIGHT pending. */
async function enqueueAll(enqueue) {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < JOBS) await enqueue(next++);
    }),
  );
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Redis CPU (µs) by command since the process started, from INFO commandstats. */
async function redisCpu() {
  const redis = new Redis(REDIS_URL);
  const text = await redis.info('commandstats');
  await redis.quit();
  const out = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
  return out;
}

/** Redis CPU per job between two snapshots, in all and for the commands that cost most (the same Redis may serve others too). */
function cpuPerJob(before, after) {
  const rows = Object.entries(after)
    .map(([cmd, a]) => ({ cmd, usec: a.usec - (before[cmd]?.usec ?? 0), calls: a.calls - (before[cmd]?.calls ?? 0) }))
    .filter((r) => r.calls > 0);
  const total = rows.reduce((sum, r) => sum + r.usec, 0);
  rows.sort((a, b) => b.usec - a.usec);
  return {
    us: Math.round((total / JOBS) * 10) / 10,
    calls: Math.round((rows.reduce((sum, r) => sum + r.calls, 0) / JOBS) * 10) / 10,
    top: Object.fromEntries(rows.slice(0, 5).map((r) => [r.cmd, Math.round((r.usec / JOBS) * 10) / 10])),
  };
}

/** One side: `setup(onStart)` returns { enqueue(i), close() }; the processor calls onStart(i) when it runs job i. */
async function side(setup) {
  let done = 0;
  let waitingAll;
  let waitingOne;
  const handle = await setup({
    started(i) {
      waitingOne?.(i);
    },
    completed() {
      if (++done === JOBS) waitingAll?.();
    },
  });
  // Throughput: JOBS enqueued with IN_FLIGHT pending, until the last one is complete.
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const allDone = new Promise((r) => (waitingAll = r));
  const cpu0 = handle.redis ? await redisCpu() : undefined;
  const t0 = performance.now();
  await enqueueAll((i) => handle.enqueue(i));
  await allDone;
  const seconds = (performance.now() - t0) / 1000;
  const redis = cpu0 ? cpuPerJob(cpu0, await redisCpu()) : undefined;
  loop.disable();
  // Latency: one job at a time on an idle worker, enqueue call → processor start.
  const lat = [];
  for (let i = 0; i < LATENCY_SAMPLES && Date.now() < deadline; i++) {
    const started = new Promise((r) => (waitingOne = r));
    const s = performance.now();
    await handle.enqueue(JOBS + i);
    await started;
    lat.push(performance.now() - s);
  }
  waitingOne = undefined;
  await handle.close();
  lat.sort((a, b) => a - b);
  return { jobsPerSec: JOBS / seconds, latP50: percentile(lat, 0.5), latP99: percentile(lat, 0.99), loopMaxMs: loop.max / 1e6, redis };
}

async function tasklane(hooks, store = { engine: 'sqlite' }) {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-bench-jobs-'));
  const runtime = await createRuntime({
    config: {
      data: dir,
      log: { level: 'warn' },
      demo: false,
      store,
      jobs: { pollMs: 200, maxAttempts: 1 },
      lanes: { bench: { placement: 'loop', concurrency: CONCURRENCY, maxQueue: 10_000 } },
    },
    env: {},
    dotenv: false,
  });
  runtime.jobs.register(
    defineTask({
      name: 'bench.noop',
      lane: 'bench',
      run(input) {
        hooks.started(input.i);
        return null;
      },
    }),
  );
  // Completion as a subscriber would see it: the terminal state committed.
  const engine = runtime.jobs.engine;
  const finish = engine.finish.bind(engine);
  engine.finish = async (...args) => {
    const record = await finish(...args);
    if (record.state === 'succeeded') hooks.completed();
    return record;
  };
  await runtime.start();
  return {
    redis: store.engine === 'redis',
    enqueue: (i) => runtime.jobs.enqueue('bench.noop', { i }),
    async close() {
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
      if (store.engine === 'redis') await deleteKeys(store.prefix);
    },
  };
}

/** tasklane on its Redis engine (BullMQ underneath), under a prefix of its own. */
function tasklaneRedis(hooks) {
  return tasklane(hooks, { engine: 'redis', url: REDIS_URL, prefix: `tlbench-${randomUUID().slice(0, 8)}` });
}

async function deleteKeys(prefix) {
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
  await redis.quit();
}

async function bullmq(hooks) {
  const prefix = `tlbench-${randomUUID().slice(0, 8)}`;
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('bench', { connection, prefix });
  const worker = new Worker(
    'bench',
    async (job) => {
      hooks.started(job.data.i);
      return null;
    },
    { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix, concurrency: CONCURRENCY },
  );
  worker.on('completed', () => hooks.completed());
  await worker.waitUntilReady();
  return {
    redis: true,
    enqueue: (i) => queue.add('noop', { i }, { attempts: 1, removeOnComplete: true, removeOnFail: true }),
    async close() {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      const keys = await connection.keys(`${prefix}:*`);
      if (keys.length) await connection.del(...keys);
      await connection.quit();
      await worker.disconnect();
    },
  };
}

let ours;
let oursRedis;
let peer;
const better = (a, b) =>
  !a || b.jobsPerSec > a.jobsPerSec
    ? {
        ...b,
        latP50: Math.min(b.latP50, a?.latP50 ?? Infinity),
        latP99: Math.min(b.latP99, a?.latP99 ?? Infinity),
        // The least Redis CPU per job seen (the run least disturbed by other clients of the same Redis).
        redis: b.redis && a?.redis && a.redis.us < b.redis.us ? a.redis : (b.redis ?? a?.redis),
      }
    : { ...a, redis: a.redis && b.redis && b.redis.us < a.redis.us ? b.redis : (a.redis ?? b.redis) };
// Noise on a shared machine comes and goes: tasklane (SQLite) and BullMQ run back to back, in
// alternating order, and each pair gives a ratio; the median of those is the headline figure.
const pairRatios = [];
for (let r = 0; r < ROUNDS && Date.now() < deadline - 20_000; r++) {
  const first = r % 2 === 0 ? tasklane : bullmq;
  const a = await side(first);
  const b = await side(first === tasklane ? bullmq : tasklane);
  const [mine, theirs] = first === tasklane ? [a, b] : [b, a];
  ours = better(ours, mine);
  peer = better(peer, theirs);
  pairRatios.push(mine.jobsPerSec / theirs.jobsPerSec);
  oursRedis = better(oursRedis, await side(tasklaneRedis));
}
pairRatios.sort((x, y) => x - y);
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
process.stdout.write(
  `${JSON.stringify({
    bench: 'jobs',
    jobs: JOBS,
    concurrency: CONCURRENCY,
    tasklane_jobs_per_sec: Math.round(ours.jobsPerSec),
    tasklane_start_latency_ms: { p50: round(ours.latP50, 2), p99: round(ours.latP99, 2) },
    tasklane_loop_delay_max_ms: round(ours.loopMaxMs),
    tasklane_redis_jobs_per_sec: Math.round(oursRedis.jobsPerSec),
    tasklane_redis_start_latency_ms: { p50: round(oursRedis.latP50, 2), p99: round(oursRedis.latP99, 2) },
    peer: 'bullmq',
    peer_jobs_per_sec: Math.round(peer.jobsPerSec),
    peer_start_latency_ms: { p50: round(peer.latP50, 2), p99: round(peer.latP99, 2) },
    peer_loop_delay_max_ms: round(peer.loopMaxMs),
    // Best of each side, and the median of the back-to-back pairs' ratios.
    ratio: round(ours.jobsPerSec / peer.jobsPerSec, 2),
    ratio_median_of_pairs: round(
      (pairRatios[Math.floor((pairRatios.length - 1) / 2)] + pairRatios[Math.ceil((pairRatios.length - 1) / 2)]) / 2,
      2,
    ),
    pairs: pairRatios.length,
    // Time per job on the Redis engine over raw BullMQ on the same Redis (goal ≤ 1.5).
    redis_overhead_vs_bullmq: round(peer.jobsPerSec / oursRedis.jobsPerSec, 2),
    // Redis CPU per job (INFO commandstats deltas over the throughput phase; least of the runs),
    // with the five costliest commands: Redis is single-threaded, so this bounds a whole fleet.
    tasklane_redis_cpu_us_per_job: oursRedis.redis,
    peer_redis_cpu_us_per_job: peer.redis,
    redis_cpu_ratio_vs_bullmq: oursRedis.redis && peer.redis ? round(oursRedis.redis.us / peer.redis.us, 2) : null,
  })}\n`,
);
