// Fan-out: SUBSCRIBERS WebSocket subscribers on one job that emits RATE progress events per second
// for SECONDS, through tasklane's /v1/ws (event hub, SQLite store, per-socket backpressure), next to
// the same fan-out done by a bare `ws` server broadcasting each message in a loop. Subscribers run
// in separate processes so the server side is measured on its own. Goal: no loss, p99 delivery
// delay <= 20 ms. Needs `npm run build` (uses dist/). Prints one JSON line. Bounded: under 60 s
// (each side gets SECONDS + 8 s; what has not arrived by then counts as lost).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WebSocketServer } from 'ws';
import { createRuntime, defineTask, listen } from '../dist/index.js';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1_000);
const RATE = Number(process.env.BENCH_RATE ?? 1_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 2);
const EVENTS = RATE * SECONDS;
const child = fileURLToPath(new URL('./fanout/subscribers.js', import.meta.url));
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Emits EVENTS events at RATE per second, catching up after each timer tick; `emit(i, t)`. */
async function emitAtRate(emit) {
  const started = performance.now();
  let i = 0;
  while (i < EVENTS) {
    const due = Math.min(EVENTS, Math.floor(((performance.now() - started) * RATE) / 1000) + 1);
    while (i < due) emit(++i, now());
    await sleep(1);
  }
  return i;
}

/** Starts the subscriber processes; resolves once every socket is open, with their results later. */
async function subscribe(url, jobId) {
  const per = Math.ceil(SUBSCRIBERS / PROCESSES);
  const kids = [];
  for (let p = 0; p < PROCESSES; p++) {
    const n = Math.min(per, SUBSCRIBERS - p * per);
    // Subscribers report what they have SECONDS + 8 s after they start, whatever is missing.
    const kid = fork(child, [url, jobId, String(n), String(EVENTS), String((SECONDS + 8) * 1000)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let ready;
    const isReady = new Promise((r) => (ready = r));
    const result = new Promise((resolve, reject) => {
      kid.on('message', (m) => {
        if (m.type === 'ready') ready();
        else if (m.type === 'result') resolve(m);
        else if (m.type === 'error') process.stderr.write(`subscriber: ${m.message}\n`);
      });
      kid.on('exit', (code) => code !== 0 && reject(new Error(`subscriber process exited with ${code}`)));
    });
    kids.push({ kid, isReady, result });
  }
  await Promise.all(kids.map((k) => k.isReady));
  return {
    go: () => kids.forEach((k) => k.kid.send('go')),
    results: () => Promise.all(kids.map((k) => k.result)),
  };
}

function summarize(results) {
  const hist = new Array(results[0].hist.length).fill(0);
  let lost = 0;
  let dup = 0;
  let received = 0;
  let done = 0;
  for (const r of results) {
    r.hist.forEach((c, i) => (hist[i] += c));
    lost += r.lost;
    dup += r.dup;
    received += r.received;
    done += r.done;
  }
  const q = (p) => {
    const target = Math.ceil(received * p);
    let seen = 0;
    for (let i = 0; i < hist.length; i++) {
      seen += hist[i];
      if (seen >= target) return i / 10;
    }
    return NaN;
  };
  let max = 0;
  hist.forEach((c, i) => c > 0 && (max = i / 10));
  // gaps: seqs a connection skipped (a loss); missing: not arrived before the deadline (too slow).
  return {
    p50_ms: q(0.5),
    p99_ms: q(0.99),
    max_ms: max,
    delivered: received,
    gaps: lost,
    dup,
    missing: SUBSCRIBERS * EVENTS - received,
    finished: done,
  };
}

/** CPU the server process spent from 'go' to the last result (the subscribers are other processes). */
function cpuOf(start) {
  const d = process.cpuUsage(start.cpu);
  start.delay.disable();
  return {
    cpu_ms: Math.round((d.user + d.system) / 1000),
    loop_p99_ms: Math.round(start.delay.percentile(99) / 1e5) / 10,
    loop_max_ms: Math.round(start.delay.max / 1e5) / 10,
  };
}

function cpuStart() {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  return { cpu: process.cpuUsage(), delay };
}

const log = (m) => process.env.BENCH_DEBUG && process.stderr.write(`${new Date().toISOString()} ${m}\n`);

async function runTasklane() {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-bench-'));
  const runtime = await createRuntime({
    config: {
      data: dir,
      log: { level: 'warn' },
      demo: false,
      // One key (none: loopback mode) opens every socket: lift the per-key and global socket caps.
      server: { port: 0, streams: { wsMaxSubscriptions: 10, maxSocketsPerKey: SUBSCRIBERS + 16, maxSockets: SUBSCRIBERS + 16 } },
      lanes: { bench: { placement: 'loop', concurrency: 1, maxQueue: 10, timeoutMs: 600_000 } },
    },
    env: {},
    dotenv: false,
  });
  let go;
  const started = new Promise((r) => (go = r));
  runtime.jobs.register(
    defineTask({
      name: 'bench.emit',
      lane: 'bench',
      async run(_input, ctx) {
        await started;
        const emitted = await emitAtRate((i, t) => ctx.progress({ i, t }));
        return { emitted };
      },
    }),
  );
  const { url } = await listen(runtime);
  try {
    const job = await runtime.jobs.enqueue('bench.emit', null);
    const subs = await subscribe(`${url.replace('http', 'ws')}/v1/ws`, job.id);
    log('tasklane: subscribers connected');
    await sleep(500);
    const cpu = cpuStart();
    subs.go();
    go();
    const out = { ...summarize(await subs.results()), ...cpuOf(cpu) };
    log('tasklane: results in');
    return out;
  } finally {
    await runtime.close({ deadlineMs: 3_000 });
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runPeer() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((r) => wss.once('listening', r));
  const jobId = 'peer-job';
  const clients = new Set();
  wss.on('connection', (ws) => {
    ws.on('message', () => clients.add(ws));
    ws.on('close', () => clients.delete(ws));
  });
  const broadcast = (event) => {
    const text = JSON.stringify({ type: 'event', event });
    for (const ws of clients) ws.send(text);
  };
  try {
    const subs = await subscribe(`ws://127.0.0.1:${wss.address().port}`, jobId);
    await sleep(500);
    const cpu = cpuStart();
    subs.go();
    let seq = 0;
    const emitted = await emitAtRate((i, t) =>
      broadcast({ jobId, seq: ++seq, type: 'progress', data: { i, t }, at: Date.now(), attempt: 1 }),
    );
    broadcast({ jobId, seq: ++seq, type: 'succeeded', data: { emitted }, at: Date.now(), attempt: 1 });
    return { ...summarize(await subs.results()), ...cpuOf(cpu) };
  } finally {
    for (const ws of wss.clients) ws.terminate();
    await new Promise((r) => wss.close(r));
  }
}

if (process.env.BENCH_ONLY === 'peer') {
  process.stdout.write(`${JSON.stringify(await runPeer())}\n`);
  process.exit(0);
}
if (process.env.BENCH_ONLY === 'tasklane') {
  process.stdout.write(`${JSON.stringify(await runTasklane())}\n`);
  process.exit(0);
}
// Rounds in alternating order (tasklane first, then the peer first, ...): on a shared machine the
// load moves between runs, so the ratio is taken per round and the median reported.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const rounds = [];
for (let r = 0; r < ROUNDS; r++) {
  let tl;
  let peer;
  if (r % 2 === 0) {
    tl = await runTasklane();
    peer = await runPeer();
  } else {
    peer = await runPeer();
    tl = await runTasklane();
  }
  rounds.push({ tl, peer, ratio: tl.p99_ms / peer.p99_ms });
  log(`round ${r + 1}: tasklane p99 ${tl.p99_ms} ms, peer ${peer.p99_ms} ms`);
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sum = (f) => rounds.reduce((n, r) => n + f(r), 0);
const r2 = (x) => Math.round(x * 100) / 100;
const line = {
  bench: 'fanout',
  subscribers: SUBSCRIBERS,
  events_per_s: RATE,
  seconds: SECONDS,
  rounds: ROUNDS,
  tasklane_p50_ms: median(rounds.map((r) => r.tl.p50_ms)),
  tasklane_p99_ms: median(rounds.map((r) => r.tl.p99_ms)),
  tasklane_p99_each_ms: rounds.map((r) => r.tl.p99_ms),
  tasklane_max_ms: Math.max(...rounds.map((r) => r.tl.max_ms)),
  tasklane_delivered: sum((r) => r.tl.delivered),
  tasklane_missing: sum((r) => r.tl.missing),
  tasklane_gaps: sum((r) => r.tl.gaps),
  tasklane_dup: sum((r) => r.tl.dup),
  peer: 'ws broadcast loop',
  peer_p50_ms: median(rounds.map((r) => r.peer.p50_ms)),
  peer_p99_ms: median(rounds.map((r) => r.peer.p99_ms)),
  peer_p99_each_ms: rounds.map((r) => r.peer.p99_ms),
  peer_max_ms: Math.max(...rounds.map((r) => r.peer.max_ms)),
  peer_delivered: sum((r) => r.peer.delivered),
  peer_missing: sum((r) => r.peer.missing),
  peer_gaps: sum((r) => r.peer.gaps),
  ratio_p99: r2(median(rounds.map((r) => r.ratio))),
  // Server-process CPU for the whole run (emit, fan-out, and on tasklane's side the store writes):
  // steadier than the delays on a shared machine.
  tasklane_cpu_ms: median(rounds.map((r) => r.tl.cpu_ms)),
  peer_cpu_ms: median(rounds.map((r) => r.peer.cpu_ms)),
  ratio_cpu: r2(median(rounds.map((r) => r.tl.cpu_ms / r.peer.cpu_ms))),
  ratio_p99_each: rounds.map((r) => r2(r.ratio)),
  load: (await import('node:os')).loadavg().map((x) => r2(x)),
};
process.stdout.write(`${JSON.stringify(line)}\n`);
