// Per-task overhead of a thread lane against the same trivial task on raw Piscina with the same
// number of threads and the same number of tasks in flight. Needs `npm run build` (uses dist/).
// Prints one JSON line. Bounded: a few seconds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { createRuntime } from '../dist/index.js';

const TASKS = Number(process.env.BENCH_TASKS ?? 5_000);
const THREADS = Number(process.env.BENCH_THREADS ?? 4);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const task = fileURLToPath(new URL('./tasks/trivial.js', import.meta.url));

/** Runs `count` calls of `submit`, keeping `inFlight` pending; returns µs per task. */
async function measure(submit, count) {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const out = await submit(i);
      if (out !== i + 1) throw new Error(`wrong answer ${out} for ${i}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return ((performance.now() - started) * 1000) / count;
}

const pool = new Piscina({ filename: task, maxThreads: THREADS, minThreads: THREADS });
const dataDir = mkdtempSync(join(tmpdir(), 'tasklane-bench-'));
const runtime = await createRuntime({
  config: { data: dataDir, log: { level: 'warn' }, demo: false, jobs: { worker: false } },
  env: {},
  dotenv: false,
});
const lane = runtime.lanes.add({ name: 'bench', placement: 'thread', concurrency: THREADS, maxQueue: IN_FLIGHT, timeoutMs: 30_000 });
const ref = { module: task };

// Warm both: threads started, modules loaded, JIT settled.
await measure((i) => pool.run(i), 2_000);
await measure((i) => lane.run(ref, i), 2_000);

// Paired rounds, back to back and in alternating order, so that noise from a shared machine hits
// both sides alike; the figures are medians (of µs per task, and of each pair's ratio).
const raws = [];
const ourss = [];
const ratios = [];
for (let r = 0; r < ROUNDS; r++) {
  let raw;
  let ours;
  if (r % 2 === 0) {
    raw = await measure((i) => pool.run(i), TASKS);
    ours = await measure((i) => lane.run(ref, i), TASKS);
  } else {
    ours = await measure((i) => lane.run(ref, i), TASKS);
    raw = await measure((i) => pool.run(i), TASKS);
  }
  raws.push(raw);
  ourss.push(ours);
  ratios.push(ours / raw);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await pool.destroy();
await runtime.close();
rmSync(dataDir, { recursive: true, force: true });

const round = (n) => Math.round(n * 100) / 100;
console.log(
  JSON.stringify({
    bench: 'thread-lane',
    tasks: TASKS,
    threads: THREADS,
    in_flight: IN_FLIGHT,
    rounds: ROUNDS,
    tasklane_us_per_task: round(median(ourss)),
    peer: 'piscina',
    peer_us_per_task: round(median(raws)),
    ratio: round(median(ratios)),
    goal_ratio: 1.15,
  }),
);
