// Workflows: (1) fan-out/fan-in, a parent that spawns 20 children and joins them; (2) a 10-step
// workflow (each step's result stored before the next runs); on tasklane's SQLite and Redis
// engines, next to BullMQ with the same shapes on the same local Redis (127.0.0.1:6379, own
// prefix, removed afterwards): FlowProducer (a parent with 20 children, the parent reading
// getChildrenValues()) and BullMQ's "process step jobs" pattern (job.updateData after each step).
// Then (3) the cost of one step: steps/s of a job that runs STEP_COUNT steps in a row on each
// engine, and µs per step over a bare function call. Needs `npm run build` (uses dist/). One JSON
// line per shape.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { FlowProducer, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createRuntime, defineTask } from '../dist/index.js';

const FLOWS = Number(process.env.BENCH_FLOWS ?? 20);
const CHILDREN = Number(process.env.BENCH_CHILDREN ?? 20);
const WORKFLOWS = Number(process.env.BENCH_WORKFLOWS ?? 100);
const STEPS = Number(process.env.BENCH_STEPS ?? 10);
const STEP_COUNT = Number(process.env.BENCH_STEP_COUNT ?? 1_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const deadline = Date.now() + Number(process.env.BENCH_SECONDS ?? 150) * 1000;

/** Longest wait for one workflow: the bench fails loudly instead of hanging. */
const RUN_LIMIT_MS = 60_000;
async function bounded(promise, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(async () => reject(new Error(await what())), RUN_LIMIT_MS);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

const prefixOf = () => `tlbench-wf-${randomUUID().slice(0, 8)}`;

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

// ── tasklane ───────────────────────────────────────────────────────────────

const childTask = defineTask({ name: 'bench.child', lane: 'bench', run: (input) => ({ i: input.i }) });
const parentTask = defineTask({
  name: 'bench.parent',
  lane: 'bench',
  async run(input, ctx) {
    // Spawned together, as FlowProducer adds its children in one go (spawn order is call order).
    const children = await Promise.all(Array.from({ length: input.children }, (_, i) => ctx.spawn(childTask, { i })));
    const ended = await ctx.join(children);
    return { sum: ended.reduce((n, c) => n + c.result.i, 0) };
  },
});
const stepsTask = defineTask({
  name: 'bench.steps',
  lane: 'bench',
  async run(input, ctx) {
    let acc = 0;
    for (let s = 0; s < input.steps; s++) acc = await ctx.step(`s${s}`, () => acc + s);
    return { acc };
  },
});

/** A runtime on one engine; `ended(id, record)` hears each job's end as the engine committed it. */
async function tasklane(store) {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-bench-wf-'));
  const runtime = await createRuntime({
    config: {
      data: dir,
      log: { level: 'warn' },
      demo: false,
      store,
      jobs: { pollMs: 50, maxAttempts: 1 },
      lanes: { bench: { placement: 'loop', concurrency: CONCURRENCY, maxQueue: 10_000 } },
    },
    env: {},
    dotenv: false,
  });
  for (const t of [childTask, parentTask, stepsTask]) runtime.jobs.register(t);
  const waiters = new Map();
  const engine = runtime.jobs.engine;
  const finish = engine.finish.bind(engine);
  engine.finish = async (...args) => {
    const record = await finish(...args);
    const w = waiters.get(record.id);
    if (w && (record.state === 'succeeded' || record.state === 'dead')) {
      waiters.delete(record.id);
      w(record);
    }
    return record;
  };
  await runtime.start();
  const run = async (task, input) => {
    const job = await runtime.jobs.enqueue(task, input);
    const record = await bounded(
      new Promise((resolve) => waiters.set(job.id, resolve)),
      async () => `${task} ${job.id} did not end within ${RUN_LIMIT_MS} ms (it is ${(await runtime.jobs.get(job.id))?.state})`,
    );
    if (record.state !== 'succeeded') throw new Error(`${task} ${job.id} ended ${record.state}: ${JSON.stringify(record.error)}`);
    return record.result;
  };
  return {
    flow: () => run('bench.parent', { children: CHILDREN }).then((r) => r.sum),
    steps: (n) => run('bench.steps', { steps: n }).then((r) => r.acc),
    async close() {
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
      if (store.engine === 'redis') await deleteKeys(store.prefix);
    },
  };
}

// ── BullMQ ─────────────────────────────────────────────────────────────────

async function bullmq() {
  const prefix = prefixOf();
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const workerConn = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const flows = new FlowProducer({ connection, prefix });
  const steps = new Queue('steps', { connection, prefix });
  const waiters = new Map();
  const opts = { attempts: 1, removeOnComplete: true, removeOnFail: true };
  const workers = [
    new Worker('child', async (job) => ({ i: job.data.i }), { connection: workerConn, prefix, concurrency: CONCURRENCY }),
    new Worker(
      'parent',
      async (job) => {
        const values = Object.values(await job.getChildrenValues());
        return { sum: values.reduce((n, v) => n + v.i, 0) };
      },
      { connection: workerConn, prefix, concurrency: CONCURRENCY },
    ),
    // BullMQ's documented step pattern: the next step is saved in the job's data after each one.
    new Worker(
      'steps',
      async (job) => {
        let { step, acc } = job.data;
        while (step < job.data.steps) {
          acc = acc + step;
          step++;
          await job.updateData({ ...job.data, step, acc });
        }
        return { acc };
      },
      { connection: workerConn, prefix, concurrency: CONCURRENCY },
    ),
  ];
  for (const w of workers) {
    w.on('completed', (job, result) => {
      const resolve = waiters.get(job.id);
      if (resolve) {
        waiters.delete(job.id);
        resolve(result);
      }
    });
    w.on('failed', (job, err) => {
      throw new Error(`bullmq job ${job?.id} failed: ${err.message}`);
    });
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const done = (id) =>
    bounded(new Promise((resolve) => waiters.set(id, resolve)), async () => `bullmq job ${id} did not end within ${RUN_LIMIT_MS} ms`);
  return {
    async flow() {
      const id = randomUUID();
      const finished = done(id);
      await flows.add({
        name: 'parent',
        queueName: 'parent',
        opts: { ...opts, jobId: id },
        children: Array.from({ length: CHILDREN }, (_, i) => ({ name: 'child', queueName: 'child', data: { i }, opts })),
      });
      return (await finished).sum;
    },
    async steps(n) {
      const id = randomUUID();
      const finished = done(id);
      await steps.add('steps', { steps: n, step: 0, acc: 0 }, { ...opts, jobId: id });
      return (await finished).acc;
    },
    async close() {
      for (const w of workers) await w.close();
      await flows.close();
      await steps.close();
      await connection.quit();
      await workerConn.quit();
      await deleteKeys(prefix);
    },
  };
}

// ── runs ───────────────────────────────────────────────────────────────────

const expectedSum = (CHILDREN * (CHILDREN - 1)) / 2;
const expectedAcc = (n) => (n * (n - 1)) / 2;

/** `count` runs of `one()` at once; the seconds until the last one ended. */
async function timed(count, one, check) {
  const t0 = performance.now();
  const got = await Promise.all(Array.from({ length: count }, () => one()));
  const seconds = (performance.now() - t0) / 1000;
  for (const g of got) if (g !== check) throw new Error(`wrong result ${g}, expected ${check}`);
  return seconds;
}

async function side(open) {
  const h = await open();
  try {
    const flowS = await timed(FLOWS, () => h.flow(), expectedSum);
    const stepsS = await timed(WORKFLOWS, () => h.steps(STEPS), expectedAcc(STEPS));
    // One job, STEP_COUNT steps in a row: the cost of a step, with nothing else running.
    const t0 = performance.now();
    if ((await h.steps(STEP_COUNT)) !== expectedAcc(STEP_COUNT)) throw new Error('wrong step result');
    const seqS = (performance.now() - t0) / 1000;
    return {
      flowSeconds: flowS,
      flowJobsPerSec: (FLOWS * (CHILDREN + 1)) / flowS,
      stepsSeconds: stepsS,
      workflowsPerSec: WORKFLOWS / stepsS,
      stepsPerSec: STEP_COUNT / seqS,
    };
  } finally {
    await h.close();
  }
}

/** µs per call of a bare function doing the same work as a step (acc + s), for the overhead figure. */
function bareCallUs() {
  const f = (acc, s) => acc + s;
  let acc = 0;
  const n = 1_000_000;
  const t0 = performance.now();
  for (let s = 0; s < n; s++) acc = f(acc, s % 7);
  const us = ((performance.now() - t0) * 1000) / n;
  if (acc < 0) throw new Error('unreachable');
  return us;
}

const sides = {
  sqlite: () => tasklane({ engine: 'sqlite' }),
  redis: () => tasklane({ engine: 'redis', url: REDIS_URL, prefix: prefixOf() }),
  bullmq,
};
const results = { sqlite: [], redis: [], bullmq: [] };
// BENCH_SIDES=bullmq,sqlite runs only those (the other figures come out null).
const order = (process.env.BENCH_SIDES ?? 'sqlite,bullmq,redis').split(',');
for (let r = 0; r < ROUNDS && (r === 0 || Date.now() < deadline); r++) {
  // Rotate the order each round so that noise on the shared machine hits every side alike.
  for (const name of [...order.slice(r % order.length), ...order.slice(0, r % order.length)]) results[name].push(await side(sides[name]));
}

const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return (s[Math.floor((s.length - 1) / 2)] + s[Math.ceil((s.length - 1) / 2)]) / 2;
};
const med = (name, key) => median(results[name].map((x) => x[key]));
const bare = bareCallUs();
const out = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

out({
  bench: 'workflows.fanout',
  shape: `${FLOWS} parents × ${CHILDREN} children, all at once`,
  concurrency: CONCURRENCY,
  rounds: results.bullmq.length,
  tasklane_sqlite_seconds: round(med('sqlite', 'flowSeconds'), 3),
  tasklane_sqlite_jobs_per_sec: Math.round(med('sqlite', 'flowJobsPerSec')),
  tasklane_redis_seconds: round(med('redis', 'flowSeconds'), 3),
  tasklane_redis_jobs_per_sec: Math.round(med('redis', 'flowJobsPerSec')),
  peer: 'bullmq FlowProducer',
  peer_seconds: round(med('bullmq', 'flowSeconds'), 3),
  peer_jobs_per_sec: Math.round(med('bullmq', 'flowJobsPerSec')),
  // > 1: tasklane faster. Goal: SQLite > 1; Redis ≥ 1/1.5.
  ratio_sqlite: round(med('sqlite', 'flowJobsPerSec') / med('bullmq', 'flowJobsPerSec'), 2),
  ratio_redis: round(med('redis', 'flowJobsPerSec') / med('bullmq', 'flowJobsPerSec'), 2),
});
out({
  bench: 'workflows.steps',
  shape: `${WORKFLOWS} workflows × ${STEPS} steps, all at once`,
  concurrency: CONCURRENCY,
  rounds: results.bullmq.length,
  tasklane_sqlite_seconds: round(med('sqlite', 'stepsSeconds'), 3),
  tasklane_sqlite_workflows_per_sec: Math.round(med('sqlite', 'workflowsPerSec')),
  tasklane_redis_seconds: round(med('redis', 'stepsSeconds'), 3),
  tasklane_redis_workflows_per_sec: Math.round(med('redis', 'workflowsPerSec')),
  peer: 'bullmq step jobs (updateData per step)',
  peer_seconds: round(med('bullmq', 'stepsSeconds'), 3),
  peer_workflows_per_sec: Math.round(med('bullmq', 'workflowsPerSec')),
  ratio_sqlite: round(med('sqlite', 'workflowsPerSec') / med('bullmq', 'workflowsPerSec'), 2),
  ratio_redis: round(med('redis', 'workflowsPerSec') / med('bullmq', 'workflowsPerSec'), 2),
});
out({
  bench: 'workflows.step-cost',
  shape: `one job, ${STEP_COUNT} steps in a row`,
  rounds: results.bullmq.length,
  tasklane_sqlite_steps_per_sec: Math.round(med('sqlite', 'stepsPerSec')),
  tasklane_redis_steps_per_sec: Math.round(med('redis', 'stepsPerSec')),
  peer: 'bullmq updateData per step',
  peer_steps_per_sec: Math.round(med('bullmq', 'stepsPerSec')),
  bare_call_us: round(bare, 4),
  // What a step costs over calling the function directly.
  sqlite_step_overhead_us: round(1e6 / med('sqlite', 'stepsPerSec') - bare, 1),
  redis_step_overhead_us: round(1e6 / med('redis', 'stepsPerSec') - bare, 1),
  peer_step_overhead_us: round(1e6 / med('bullmq', 'stepsPerSec') - bare, 1),
  ratio_sqlite: round(med('sqlite', 'stepsPerSec') / med('bullmq', 'stepsPerSec'), 2),
  ratio_redis: round(med('redis', 'stepsPerSec') / med('bullmq', 'stepsPerSec'), 2),
});
