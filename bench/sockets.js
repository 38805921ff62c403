// Sockets: /healthz latency while SOCKETS WebSockets (default 1,000) each follow SUBS jobs (default
// 10, so 10,000 subscriptions) that are queued, not running (issue 18: the hub once read the store
// per subscriber of such a job), then while one running job that every socket also follows emits
// RATE progress events per second. Beside it, the same probe on the idle server. Sockets and probe
// are other processes, so the server's loop is measured alone. Goal (issue 18): /healthz under 50 ms.
// Needs `npm run build`. Prints one JSON line. Bounded: about 30 s.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime, defineTask, listen } from '../dist/index.js';

const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 1_000);
const SUBS = Number(process.env.BENCH_SUBS ?? 10);
const JOBS = Number(process.env.BENCH_JOBS ?? 1_000);
const RATE = Number(process.env.BENCH_RATE ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 2);
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const r2 = (x) => Math.round(x * 100) / 100;

function child(file, args) {
  const kid = fork(here(file), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let ready;
  const isReady = new Promise((r) => (ready = r));
  const result = new Promise((resolve, reject) => {
    kid.on('message', (m) => {
      if (m.type === 'ready') ready();
      else if (m.type === 'result') resolve(m);
      else if (m.type === 'error') process.stderr.write(`${file}: ${m.message}\n`);
    });
    kid.on('exit', (code) => code !== 0 && reject(new Error(`${file} exited with ${code}`)));
  });
  return { kid, isReady, result };
}

/** Waits (at most 10 s) until the loop is less than a third busy over 250 ms. */
async function settle() {
  for (let i = 0; i < 40; i++) {
    const e = performance.eventLoopUtilization();
    await sleep(250);
    if (performance.eventLoopUtilization(e).utilization < 0.33) return;
  }
}

const probe = (url) => child('./sockets/probe.js', [url, String(SECONDS)]).result;

const dir = mkdtempSync(join(tmpdir(), 'tasklane-bench-'));
const runtime = await createRuntime({
  config: {
    data: dir,
    log: { level: 'warn' },
    demo: false,
    server: {
      port: 0,
      // One key (none: loopback mode) opens every socket: the bench lifts the caps that would stop it.
      streams: { maxSocketsPerKey: SOCKETS + 16, maxSockets: SOCKETS + 16, maxSubscriptionsPerKey: SOCKETS * (SUBS + 1) + 16 },
    },
    lanes: { bench: { placement: 'loop', concurrency: 1, maxQueue: 10, timeoutMs: 600_000 } },
  },
  env: {},
  dotenv: false,
});
let go;
const started = new Promise((r) => (go = r));
let stop = false;
runtime.jobs.register(
  defineTask({
    name: 'bench.emit',
    lane: 'bench',
    async run(_input, ctx) {
      await started;
      let i = 0;
      while (!stop) {
        ctx.progress({ i: ++i });
        await sleep(1000 / RATE);
      }
      return { emitted: i };
    },
  }),
);
const { url } = await listen(runtime);
const line = { bench: 'sockets', sockets: SOCKETS, subscriptions: SOCKETS * SUBS, queued_jobs: JOBS, events_per_s: RATE, seconds: SECONDS };
try {
  const elu = performance.eventLoopUtilization();
  line.idle = await probe(url);
  line.idle.loop_utilisation = r2(performance.eventLoopUtilization(elu).utilization);
  delete line.idle.type;
  // Queued, not running: delayed far ahead.
  const queued = [];
  for (let i = 0; i < JOBS; i++) queued.push((await runtime.jobs.enqueue('bench.emit', null, { delayMs: 3_600_000 })).id);
  const rssBefore = process.memoryUsage().rss;
  const per = Math.ceil(SOCKETS / PROCESSES);
  const kids = [];
  const t0 = performance.now();
  for (let p = 0; p < PROCESSES; p++) {
    const n = Math.min(per, SOCKETS - p * per);
    kids.push(child('./sockets/clients.js', [`${url.replace('http', 'ws')}/v1/ws`, String(n), queued.join(','), String(SUBS)]));
  }
  await Promise.all(kids.map((k) => k.isReady));
  // Acks go out before each subscription's first store read: wait until the loop has settled.
  await settle();
  line.connect_s = r2((performance.now() - t0) / 1000);
  const elu0 = performance.eventLoopUtilization();
  line.queued = await probe(url);
  line.queued.loop_utilisation = r2(performance.eventLoopUtilization(elu0).utilization);
  delete line.queued.type;
  line.rss_mb_added = Math.round((process.memoryUsage().rss - rssBefore) / 1e6);

  // Then one running job that every socket follows too.
  const live = await runtime.jobs.enqueue('bench.emit', null);
  const again = kids.map((k) => new Promise((r) => k.kid.on('message', (m) => m.type === 'ready' && r())));
  for (const k of kids) k.kid.send({ live: live.id });
  await Promise.all(again);
  await settle();
  go();
  await sleep(500);
  const elu1 = performance.eventLoopUtilization();
  line.live = await probe(url);
  line.live.loop_utilisation = r2(performance.eventLoopUtilization(elu1).utilization);
  delete line.live.type;
  stop = true;
  for (const k of kids) k.kid.send('stop');
  const results = await Promise.all(kids.map((k) => k.result));
  line.events_delivered = results.reduce((n, r) => n + r.events, 0);
  line.subscription_errors = results.reduce((n, r) => n + r.errors, 0);
  line.healthz_p99_over_idle_ms = r2(Math.max(line.queued.p99_ms, line.live.p99_ms) - line.idle.p99_ms);
  line.goal_met = Math.max(line.queued.max_ms, line.live.max_ms) < 50;
  line.load = loadavg().map(r2);
} finally {
  await runtime.close({ deadlineMs: 3_000 });
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(line)}\n`);
