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

const log = (m) => process.env.BENCH_DEBUG && process.stderr.write(`${new Date().toISOString()} ${m}\n`);

async function runTasklane() {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-bench-'));
  const runtime = await createRuntime({
    config: {
      data: dir,
      log: { level: 'warn' },
      demo: false,
      server: { port: 0, streams: { wsMaxSubscriptions: 10 } },
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
    subs.go();
    go();
    const out = summarize(await subs.results());
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
    subs.go();
    let seq = 0;
    const emitted = await emitAtRate((i, t) =>
      broadcast({ jobId, seq: ++seq, type: 'progress', data: { i, t }, at: Date.now(), attempt: 1 }),
    );
    broadcast({ jobId, seq: ++seq, type: 'succeeded', data: { emitted }, at: Date.now(), attempt: 1 });
    return summarize(await subs.results());
  } finally {
    for (const ws of wss.clients) ws.terminate();
    await new Promise((r) => wss.close(r));
  }
}

if (process.env.BENCH_ONLY === 'peer') {
  process.stdout.write(`${JSON.stringify(await runPeer())}\n`);
  process.exit(0);
}
const tl = await runTasklane();
if (process.env.BENCH_ONLY === 'tasklane') {
  process.stdout.write(`${JSON.stringify(tl)}\n`);
  process.exit(0);
}
const peer = await runPeer();
const line = {
  bench: 'fanout',
  subscribers: SUBSCRIBERS,
  events_per_s: RATE,
  seconds: SECONDS,
  tasklane_p50_ms: tl.p50_ms,
  tasklane_p99_ms: tl.p99_ms,
  tasklane_max_ms: tl.max_ms,
  tasklane_delivered: tl.delivered,
  tasklane_missing: tl.missing,
  tasklane_gaps: tl.gaps,
  tasklane_dup: tl.dup,
  peer: 'ws broadcast loop',
  peer_p50_ms: peer.p50_ms,
  peer_p99_ms: peer.p99_ms,
  peer_max_ms: peer.max_ms,
  peer_delivered: peer.delivered,
  peer_missing: peer.missing,
  peer_gaps: peer.gaps,
  ratio_p99: Math.round((tl.p99_ms / peer.p99_ms) * 100) / 100,
};
process.stdout.write(`${JSON.stringify(line)}\n`);
