// The soak: a real `tasklane serve` process under steady mixed traffic (gateway JSON and streams,
// with upstream failures and client aborts; jobs on the loop and in a thread lane, some cancelled;
// WebSocket subscribers that reconnect; SSE watchers), sampled every few seconds: heap, RSS,
// active handles, pending timers, open sockets and fds, loop delay. Idle figures are taken after a warm-up and
// again after the traffic, the heap after a full collection: they must match. Used by bench/soak.js and test/soak.test.ts.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch as undiciFetch } from 'undici';
import { WebSocket } from 'ws';
import { fitTrend } from './trend.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const KEY = 'soak-client-key-0001';
const auth = { authorization: `Bearer ${KEY}` };
const FINAL = new Set(['succeeded', 'dead', 'cancelled']);
const EXPECTED_TEXT = 'Hello from the bench mock.';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Idle client connections close within a second (the server suggests 72 s), so the idle samples
// count only what the server itself keeps open.
const dispatcher = new Agent({ keepAliveTimeout: 1_000, keepAliveMaxTimeout: 1_000 });
const fetch = (url, init = {}) => undiciFetch(url, { ...init, dispatcher });

/** Starts `node <args>` and resolves once it prints "listening <url>". */
function startProcess(args, what, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errText = '';
    const timer = setTimeout(() => fail(new Error(`${what} did not start in 20 s: ${errText}`)), 20_000);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.stderr.on('data', (d) => (errText = (errText + d).slice(-4_000)));
    child.once('exit', (code) => fail(new Error(`${what} exited with ${code}: ${errText}`)));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening (http:\/\/\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      resolve({ child, url: m[1], stderr: () => errText });
    });
  });
}

/** SIGTERM, then the exit code and how long it took (SIGKILL after `ms`). */
function stopProcess(child, ms = 15_000) {
  if (child.exitCode !== null) return Promise.resolve({ code: child.exitCode, ms: 0 });
  const started = performance.now();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(kill);
      resolve({ code: code ?? signal, ms: Math.round(performance.now() - started) });
    });
    child.kill('SIGTERM');
  });
}

/**
 * A full collection in the server through its inspector (started on loopback with --inspect=127.0.0.1:0),
 * then its heap: what the traffic left behind, without the collector's saw-tooth.
 */
async function heapAfterGc(url, inspectorUrl) {
  const ws = new WebSocket(inspectorUrl, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  const call = (method) =>
    new Promise((resolve) => {
      const my = ++id;
      const onMessage = (data) => {
        if (JSON.parse(String(data)).id !== my) return;
        ws.off('message', onMessage);
        resolve();
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: my, method }));
    });
  // Twice: the first pass may only queue finalizers whose objects the second one frees.
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  ws.close();
  await new Promise((r) => ws.once('close', r));
  const text = await (await fetch(`${url}/metrics`, { headers: auth })).text();
  return metricValue(text, 'tasklane_process_nodejs_heap_size_used_bytes') / 2 ** 20;
}

function metricValue(text, name) {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** The server's figures now: from its /metrics and from /proc. */
async function sample(url, pid, t0) {
  const text = await (await fetch(`${url}/metrics`, { headers: auth })).text();
  let sockets = 0;
  let fds = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds++;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // Closed while we looked.
    }
  }
  return {
    t: Math.round((performance.now() - t0) / 1000),
    heapMb: metricValue(text, 'tasklane_process_nodejs_heap_size_used_bytes') / 2 ** 20,
    heapTotalMb: metricValue(text, 'tasklane_process_nodejs_heap_size_total_bytes') / 2 ** 20,
    externalMb: metricValue(text, 'tasklane_process_nodejs_external_memory_bytes') / 2 ** 20,
    rssMb: Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024,
    handles: metricValue(text, 'tasklane_process_nodejs_active_handles_total'),
    timers: Number(/^tasklane_process_active_resources\{type="Timeout"\} (\S+)$/m.exec(text)?.[1] ?? 0),
    sockets,
    fds,
    loopP99Ms: Number(/^tasklane_loop_delay_ms\{quantile="0.99"\} (\S+)$/m.exec(text)?.[1] ?? NaN),
  };
}

function newStats() {
  return {
    chat: { ok: 0, expectedFail: 0, aborted: 0, cacheHits: 0, unexpected: 0 },
    jobs: { submitted: 0, cancelAsked: 0, succeeded: 0, cancelled: 0, dead: 0, unfinished: 0 },
    ws: { connections: 0, jobsFollowed: 0, events: 0, gaps: 0, dups: 0 },
    sse: { streams: 0, events: 0, gaps: 0 },
    errors: [],
  };
}

function unexpected(stats, what) {
  stats.chat.unexpected += what.startsWith('chat') ? 1 : 0;
  if (stats.errors.length < 20) stats.errors.push(what);
}

/** Runs `fn` every `everyMs` with at most `max` in flight, until `running()` is false. */
async function loop(running, everyMs, max, fn) {
  const inFlight = new Set();
  while (running()) {
    if (inFlight.size < max) {
      const p = fn().finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await sleep(everyMs);
  }
  await Promise.allSettled([...inFlight]);
}

async function chatOnce(url, stats, n) {
  const roll = n % 20;
  const stream = roll >= 8 && roll < 13;
  // 'limited' is the same upstream under other keys: its 429s cool those keys, not the chat ones.
  const model =
    roll === 13
      ? 'flaky'
      : roll === 14
        ? 'mock/fail-500'
        : roll === 15
          ? 'limited/rate'
          : roll === 16
            ? 'mock/cut'
            : roll === 17
              ? 'mock/slow'
              : 'chat';
  // One request in twenty repeats an earlier one (a cache hit); the rest are unique.
  const content = roll === 18 ? 'the same question' : `question ${n}`;
  const isStream = stream || model === 'mock/cut' || model === 'mock/slow';
  const controller = new AbortController();
  if (model === 'mock/slow') setTimeout(() => controller.abort(), 150);
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content }], stream: isStream }),
      signal: controller.signal,
    });
    const text = await res.text();
    // Told to fail, or cut often enough that its breaker opened: a typed error is the right answer.
    if (model === 'mock/fail-500' || model === 'limited/rate' || (model === 'mock/cut' && res.status >= 500)) {
      if (res.status >= 400 && /"code":"TL_ERR_/.test(text)) stats.chat.expectedFail++;
      else unexpected(stats, `chat ${model}: ${res.status} ${text.slice(0, 200)}`);
      return;
    }
    if (res.status !== 200) return unexpected(stats, `chat ${model}: ${res.status} ${text.slice(0, 200)}`);
    if (res.headers.get('x-tasklane-cache') === 'hit') stats.chat.cacheHits++;
    if (!isStream) {
      const body = JSON.parse(text);
      if (body.choices?.[0]?.message?.content === EXPECTED_TEXT) stats.chat.ok++;
      else unexpected(stats, `chat ${model}: wrong answer ${text.slice(0, 200)}`);
      return;
    }
    const frames = text
      .split('\n\n')
      .filter((f) => f.startsWith('data: '))
      .map((f) => f.slice(6));
    const done = frames.at(-1) === '[DONE]';
    const said = frames
      .filter((f) => f !== '[DONE]')
      .map((f) => JSON.parse(f))
      .map((c) => c.choices?.[0]?.delta?.content ?? '')
      .join('');
    const inBandError = frames.some((f) => f.startsWith('{"error"'));
    if (model === 'mock/cut') {
      // Never a truncated success: the cut stream must end in an error, not [DONE].
      if (!done && inBandError) stats.chat.expectedFail++;
      else unexpected(stats, `chat cut stream ended with ${frames.at(-1)}`);
    } else if (done && said === EXPECTED_TEXT) stats.chat.ok++;
    else unexpected(stats, `chat stream ${model}: done=${done} said=${JSON.stringify(said)}`);
  } catch (err) {
    if (model === 'mock/slow' && controller.signal.aborted) stats.chat.aborted++;
    else unexpected(stats, `chat ${model}: ${err.message}`);
  }
}

async function submitOnce(url, stats, recent, n) {
  const cpu = n % 10 === 9;
  const res = await fetch(`${url}/v1/jobs`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(cpu ? { task: 'soak.cpu', input: { steps: 10 } } : { task: 'soak.work', input: { steps: 10, ms: 20 } }),
  });
  const body = await res.json();
  if (res.status !== 201) return unexpected(stats, `submit: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
  stats.jobs.submitted++;
  recent.push(body.id);
  if (recent.length > 50) recent.shift();
  if (n % 20 === 7) {
    await sleep(50);
    stats.jobs.cancelAsked++;
    const c = await fetch(`${url}/v1/jobs/${body.id}/cancel`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{}',
    });
    // 409: it had already ended.
    if (c.status !== 200 && c.status !== 202 && c.status !== 409)
      unexpected(stats, `cancel: ${c.status} ${(await c.text()).slice(0, 200)}`);
    else await c.arrayBuffer();
  }
}

/** Follows the events of a job on an open WebSocket to its end, checking the order. */
function followOnSocket(ws, jobId, stats) {
  return new Promise((resolve) => {
    let next = 1;
    const timer = setTimeout(() => finish(`ws: job ${jobId} did not end within 30 s`), 30_000);
    const onMessage = (data) => {
      const msg = JSON.parse(String(data));
      if (msg.jobId !== jobId && msg.event?.jobId !== jobId) return;
      if (msg.type === 'error') return finish(`ws error: ${JSON.stringify(msg.error)}`);
      if (msg.type === 'unsubscribed') return finish();
      if (msg.type !== 'event') return;
      stats.ws.events++;
      const seq = msg.event.seq;
      if (seq < next) stats.ws.dups++;
      else if (seq > next) stats.ws.gaps++;
      next = Math.max(next, seq + 1);
    };
    const finish = (problem) => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      ws.off('close', onClose);
      if (problem) unexpected(stats, problem);
      resolve();
    };
    const onClose = () => finish(`ws closed while following ${jobId}`);
    ws.on('message', onMessage);
    ws.once('close', onClose);
    ws.send(JSON.stringify({ op: 'subscribe', jobId, fromSeq: 0 }));
    stats.ws.jobsFollowed++;
  });
}

/** A subscriber: connects, follows recent jobs one after another, reconnects every ~20 s. */
async function subscriber(url, stats, recent, running) {
  while (running()) {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`, { headers: auth, perMessageDeflate: false });
    const opened = await new Promise((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('error', (err) => {
        unexpected(stats, `ws connect: ${err.message}`);
        resolve(false);
      });
    });
    if (!opened) {
      await sleep(500);
      continue;
    }
    ws.on('error', () => undefined);
    stats.ws.connections++;
    const until = performance.now() + 15_000 + Math.random() * 10_000;
    while (running() && performance.now() < until) {
      const jobId = recent.at(-1 - Math.floor(Math.random() * Math.min(5, recent.length)));
      if (!jobId) {
        await sleep(100);
        continue;
      }
      await followOnSocket(ws, jobId, stats);
    }
    ws.close();
    await new Promise((r) => (ws.readyState === ws.CLOSED ? r() : ws.once('close', r)));
  }
}

async function sseOnce(url, stats, recent) {
  const jobId = recent.at(-1);
  if (!jobId) return;
  const res = await fetch(`${url}/v1/jobs/${jobId}/events`, { headers: auth, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  if (res.status !== 200) return unexpected(stats, `sse: ${res.status} ${text.slice(0, 200)}`);
  stats.sse.streams++;
  const seqs = text
    .split('\n')
    .filter((l) => l.startsWith('id: '))
    .map((l) => Number(l.slice(4)));
  stats.sse.events += seqs.length;
  seqs.forEach((s, i) => {
    if (s !== i + 1) stats.sse.gaps++;
  });
}

/** Waits until no submitted job is queued, delayed or running; counts the end states. */
async function settleJobs(url, stats, timeoutMs) {
  const until = performance.now() + timeoutMs;
  for (;;) {
    let open = 0;
    for (const state of ['queued', 'delayed', 'running']) {
      const page = await (await fetch(`${url}/v1/jobs?state=${state}&limit=500`, { headers: auth })).json();
      open += page.jobs.length;
    }
    if (open === 0 || performance.now() > until) {
      stats.jobs.unfinished = open;
      break;
    }
    await sleep(250);
  }
  for (const state of ['succeeded', 'cancelled', 'dead']) {
    let cursor = '';
    let n = 0;
    do {
      const page = await (
        await fetch(`${url}/v1/jobs?state=${state}&limit=500${cursor ? `&cursor=${cursor}` : ''}`, { headers: auth })
      ).json();
      n += page.jobs.length;
      cursor = page.next ?? '';
    } while (cursor);
    stats.jobs[state] = n;
  }
}

/**
 * Runs the soak. `seconds` of traffic after `warmupS`; a sample every `sampleS`; idle figures
 * `settleS` after the warm-up and after the traffic. Returns every sample and the summary.
 */
export async function runSoak({ seconds = 1200, sampleS = 10, warmupS = 10, settleS = 6, subscribers = 8, log = () => {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-soak-'));
  const upstream = await startProcess([join(here, '..', 'gateway', 'mock-upstream.js')], 'the soak upstream', {
    UPSTREAM_KEEPALIVE_MS: '5000',
  });
  let server;
  try {
    const config = {
      server: { host: '127.0.0.1', port: 0, apiKeys: [KEY] },
      data: join(dir, 'data'),
      log: { level: 'warn' },
      providers: {
        mock: { type: 'openai-compatible', baseURL: `${upstream.url}/v1`, apiKeys: ['sk-soak-key-1', 'sk-soak-key-2'], connections: 16 },
        limited: { type: 'openai-compatible', baseURL: `${upstream.url}/v1`, apiKeys: ['sk-soak-key-3'], connections: 4 },
      },
      models: {
        chat: [{ provider: 'mock', model: 'bench-model' }],
        flaky: [
          { provider: 'mock', model: 'fail-500' },
          { provider: 'mock', model: 'bench-model' },
        ],
      },
      // A small response cache: full after the warm-up, so it evicts during the run and its size is the
      // same at both idle samples.
      ai: { cache: { enabled: true, mode: 'all', maxEntries: 100 } },
      lanes: {
        soak: { placement: 'loop', concurrency: 32, maxQueue: 10_000, timeoutMs: 60_000 },
        soakcpu: { placement: 'thread', concurrency: 1, maxQueue: 10_000, timeoutMs: 60_000 },
      },
      jobs: { modules: [join(here, 'tasks.js')] },
    };
    const file = join(dir, 'tasklane.json');
    writeFileSync(file, JSON.stringify(config));
    server = await startProcess(['--inspect=127.0.0.1:0', join(root, 'bin/tasklane.js'), 'serve', '--config', file], 'tasklane serve');
    const { url } = server;
    const pid = server.child.pid;
    const inspectorUrl = /Debugger listening on (ws:\/\/\S+)/.exec(server.stderr())?.[1];
    if (!inspectorUrl) throw new Error(`no inspector address from the server: ${server.stderr()}`);
    const stats = newStats();
    const recent = [];
    const t0 = performance.now();
    let phaseEnd = 0;
    const running = () => performance.now() < phaseEnd;

    const traffic = async (ms) => {
      phaseEnd = performance.now() + ms;
      let chatN = 0;
      let jobN = 0;
      await Promise.all([
        loop(running, 10, 8, () => chatOnce(url, stats, chatN++)),
        loop(running, 50, 8, () => submitOnce(url, stats, recent, jobN++)),
        loop(running, 500, 2, () => sseOnce(url, stats, recent)),
        ...Array.from({ length: subscribers }, () => subscriber(url, stats, recent, running)),
      ]);
    };

    log(`soak: warm-up ${warmupS} s`);
    await traffic(warmupS * 1_000);
    await settleJobs(url, stats, 30_000);
    await sleep(settleS * 1_000);
    const idleBefore = await sample(url, pid, t0);
    idleBefore.heapGcMb = await heapAfterGc(url, inspectorUrl);
    if (process.env.SOAK_DEBUG) log((await import('node:child_process')).execSync(`ss -tanpx | grep "pid=${pid}," || true`).toString());
    log(`soak: idle before ${JSON.stringify(idleBefore)}`);

    const samples = [];
    const sampler = (async () => {
      const end = performance.now() + seconds * 1_000;
      while (performance.now() < end) {
        await sleep(Math.min(sampleS * 1_000, Math.max(0, end - performance.now())));
        const s = await sample(url, pid, t0);
        samples.push(s);
        log(
          `soak: ${JSON.stringify(s)} chat ok ${stats.chat.ok} jobs ${stats.jobs.submitted} ws events ${stats.ws.events} unexpected ${stats.errors.length}`,
        );
      }
    })();
    const load = [];
    const loadTimer = setInterval(() => load.push(loadavg()[0]), 10_000);
    await traffic(seconds * 1_000);
    await sampler;
    clearInterval(loadTimer);

    await settleJobs(url, stats, 60_000);
    await sleep(settleS * 1_000);
    const idleAfter = await sample(url, pid, t0);
    idleAfter.heapGcMb = await heapAfterGc(url, inspectorUrl);
    if (process.env.SOAK_DEBUG) log((await import('node:child_process')).execSync(`ss -tanpx | grep "pid=${pid}," || true`).toString());
    log(`soak: idle after ${JSON.stringify(idleAfter)}`);
    const exit = await stopProcess(server.child);
    server = undefined;

    // The line is fitted past the first fifth of the run (caches, pools and compiled code settle).
    const fitted = samples.slice(Math.floor(samples.length / 5));
    const metrics = {};
    for (const name of ['heapMb', 'heapTotalMb', 'externalMb', 'rssMb', 'handles', 'timers', 'sockets', 'fds', 'loopP99Ms']) {
      metrics[name] = fitTrend(
        fitted.map((s) => [s.t / 60, s[name]]),
        { floor: { heapMb: 4, heapTotalMb: 8, externalMb: 4, rssMb: 16, handles: 5, timers: 5, sockets: 5, fds: 5, loopP99Ms: 5 }[name] },
      );
    }
    return {
      seconds,
      sampleS,
      machine: {
        cores: cpus().length,
        node: process.version,
        load1: load.length ? Math.round((load.reduce((a, b) => a + b, 0) / load.length) * 10) / 10 : loadavg()[0],
      },
      stats,
      fitFromS: fitted[0]?.t,
      metrics,
      idle: { before: idleBefore, after: idleAfter },
      exit,
      samples,
    };
  } finally {
    if (server) await stopProcess(server.child, 5_000);
    await stopProcess(upstream.child, 5_000);
    rmSync(dir, { recursive: true, force: true });
  }
}
