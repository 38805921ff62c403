// Event-loop delay while CPU-bound jobs run: inline on the loop (the peer: what a handler doing the
// work itself does) against the same jobs in a thread lane. Needs `npm run build` (uses dist/).
// Prints one JSON line with both p99 delays, their ratio, and the idle loop's p99 on the same
// machine at the same time (the floor). Bounded: about 10 s.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createRuntime } from '../dist/index.js';
import cpuBurn from './tasks/cpu-burn.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 80);
const JOB_MS = Number(process.env.BENCH_JOB_MS ?? 25);
// Leave one core to the event loop, as a deployment on this machine would.
const THREADS = Number(process.env.BENCH_THREADS ?? Math.max(1, availableParallelism() - 1));
const task = { module: fileURLToPath(new URL('./tasks/cpu-burn.js', import.meta.url)) };

/** p99 and max event-loop delay (ms) while `work` runs, sampled every ms. */
async function loopDelay(work) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  h.disable();
  return { p99: h.percentile(99) / 1e6, max: h.max / 1e6, ms };
}

/** Runs JOBS jobs, four submitted at a time, the way requests would arrive. */
async function jobs(runOne) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next++ < JOBS) await runOne();
    }),
  );
}

const dataDir = mkdtempSync(join(tmpdir(), 'tasklane-bench-'));
const runtime = await createRuntime({
  config: { data: dataDir, log: { level: 'warn' }, demo: false, jobs: { worker: false } },
  env: {},
  dotenv: false,
});
const lane = runtime.lanes.add({ name: 'bench', placement: 'thread', concurrency: THREADS, maxQueue: 100, timeoutMs: 30_000 });
// Start the threads before measuring.
await Promise.all(Array.from({ length: THREADS }, () => lane.run(task, { ms: 1 })));

const inline = await loopDelay(() =>
  jobs(async () => {
    // Yield between jobs as an async handler would; the job itself blocks the loop.
    await new Promise((resolve) => setImmediate(resolve));
    cpuBurn({ ms: JOB_MS });
  }),
);
const threaded = await loopDelay(() => jobs(() => lane.run(task, { ms: JOB_MS })));
// The machine's own floor: the same measure with no work at all, for as long as the lane run took.
const idle = await loopDelay(() => new Promise((resolve) => setTimeout(resolve, threaded.ms)));
await runtime.close();
rmSync(dataDir, { recursive: true, force: true });

const round = (n) => Math.round(n * 100) / 100;
console.log(
  JSON.stringify({
    bench: 'loop-delay',
    jobs: JOBS,
    job_ms: JOB_MS,
    lane_threads: THREADS,
    tasklane_p99_ms: round(threaded.p99),
    tasklane_max_ms: round(threaded.max),
    peer: 'inline',
    peer_p99_ms: round(inline.p99),
    peer_max_ms: round(inline.max),
    ratio: round(inline.p99 / threaded.p99),
    idle_p99_ms: round(idle.p99),
    goal_tasklane_p99_ms: 5,
    tasklane_wall_ms: Math.round(threaded.ms),
    peer_wall_ms: Math.round(inline.ms),
  }),
);
