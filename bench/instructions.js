// Instructions per request (issue 19.6): the one gateway figure that the load on a shared machine
// does not move. Each gateway (tasklane, the bare pass-through proxy, the Portkey gateway) runs
// under valgrind's callgrind in its own process, next to one mock upstream that runs natively.
// For each mode (plain JSON, then SSE) the gateway gets WARMUP requests (so the JIT has compiled
// the hot path), callgrind's counters are zeroed (`callgrind_control -z`), N requests are sent at
// 16 connections and the counters dumped (`callgrind_control -d`). Threads are counted apart
// (`--separate-threads=yes`) and only the main thread's figure is used: V8's compiler and GC
// helper threads do work whose amount depends on timing, not on the request. Prints one JSON line
// per figure with the ratios. Needs valgrind, `npm run build` and `npm --prefix bench ci`.
// Bounded: BENCH_WARMUP (default 1,500) and BENCH_REQUESTS (default 400) keep it to a few minutes.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1_500);
const N = Number(process.env.BENCH_REQUESTS ?? 400);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const ONLY = process.env.BENCH_SYSTEMS?.split(',');
const started = Date.now();
const children = [];
const dir = mkdtempSync(join(tmpdir(), 'tasklane-instr-'));

try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  process.stderr.write('bench instructions: valgrind is not installed (apt-get install valgrind)\n');
  process.exit(2);
}

function start(name, args, { valgrind = false } = {}) {
  const cmd = valgrind ? 'valgrind' : process.execPath;
  const argv = valgrind
    ? [
        '--tool=callgrind',
        '--separate-threads=yes',
        '--dump-instr=no',
        `--callgrind-out-file=${join(dir, `cg.${name}.%p`)}`,
        process.execPath,
        ...args,
      ]
    : args;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 600 s: ${err}`)), 600_000);
    child.on('exit', (code) => reject(new Error(`${name} exited with ${code}: ${err}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m =
        /(?:listening|running on|Your AI Gateway is now running on)\D*?(http:\/\/[^\s/]+)/i.exec(line) ??
        /(http:\/\/(?:127\.0\.0\.1|localhost):\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1].replace('localhost', '127.0.0.1'), pid: child.pid });
      }
    });
  });
}

const chat = (model, stream) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello to the benchmark.' }], ...(stream ? { stream: true } : {}) });

async function load(s, stream, amount, { warmup = false } = {}) {
  const result = await autocannon({
    url: `${s.url}/v1/chat/completions`,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...s.headers },
    body: chat(s.model, stream),
    connections: CONNECTIONS,
    amount,
    // Under valgrind on a loaded machine one answer can take long.
    timeout: 300,
  });
  // A timeout in the warm-up only costs warm-up; in the measured window it would skew the count.
  if (warmup) return;
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${s.name}: ${result.non2xx} non-2xx, ${result.errors} errors`);
}

/** Sums the `summary:`/`totals:` Ir of the dump files a `callgrind_control -d` just wrote, per thread. */
function readDump(name, pid, seen) {
  const files = readdirSync(dir).filter((f) => f.startsWith(`cg.${name}.${pid}`) && !seen.has(f));
  const threads = {};
  for (const f of files) {
    seen.add(f);
    const text = readFileSync(join(dir, f), 'utf8');
    const thread = Number(/^thread: (\d+)/m.exec(text)?.[1] ?? 1);
    const total = Number(/^(?:summary|totals): (\d+)/m.exec(text)?.[1] ?? 0);
    threads[thread] = (threads[thread] ?? 0) + total;
  }
  return threads;
}

/** Waits until callgrind has written the dump files of one -d (they appear once per thread). */
async function control(pid, flag) {
  execFileSync('callgrind_control', [flag, String(pid)], { stdio: 'ignore', timeout: 120_000 });
}

function portkeyFile() {
  const file = join(here, 'node_modules/@portkey-ai/gateway/build/start-server.js');
  if (!existsSync(file)) {
    process.stderr.write('bench instructions: the Portkey gateway is not installed; run `npm --prefix bench ci` once\n');
    process.exit(2);
  }
  return file;
}

async function main() {
  const mock = (await start('mock', [join(here, 'gateway/mock-upstream.js')])).url;
  const config = join(dir, 'tasklane.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      data: dir,
      log: { level: 'warn' },
      demo: false,
      jobs: { worker: false },
      providers: { mock: { type: 'openai-compatible', baseURL: `${mock}/v1`, apiKeys: ['bench-key'], connections: 128 } },
      models: { bench: [{ provider: 'mock', model: 'bench-model' }] },
      ai: { cache: { enabled: false }, singleFlight: false },
      lanes: { ai: { concurrency: 1024, maxQueue: 4096 } },
    }),
  );
  const auth = { authorization: 'Bearer bench-key' };
  const systems = [
    { name: 'tasklane', args: [join(root, 'bin/tasklane.js'), 'serve', '--config', config, '--port', '0'], headers: {}, model: 'bench' },
    { name: 'proxy', args: [join(here, 'gateway/passthrough-proxy.js'), mock], headers: auth, model: 'bench-model' },
    {
      name: 'portkey',
      args: () => [portkeyFile(), `--port=${20_000 + Math.floor(Math.random() * 20_000)}`, '--headless'],
      headers: { ...auth, 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${mock}/v1` },
      model: 'bench-model',
    },
  ].filter((s) => !ONLY || ONLY.includes(s.name));
  const figures = { json: {}, stream: {} };
  for (const s of systems) {
    const t0 = Date.now();
    const { url, pid } = await start(s.name, typeof s.args === 'function' ? s.args() : s.args, { valgrind: true });
    s.url = url;
    const seen = new Set();
    for (const stream of [false, true]) {
      await load(s, stream, WARMUP, { warmup: true });
      await control(pid, '-z');
      await load(s, stream, N);
      await control(pid, '-d');
      const threads = readDump(s.name, pid, seen);
      const main = threads[1] ?? 0;
      const all = Object.values(threads).reduce((a, b) => a + b, 0);
      figures[stream ? 'stream' : 'json'][s.name] = { main: Math.round(main / N), all: Math.round(all / N) };
    }
    // Each system's figures as soon as they are in (a run cut short still leaves them).
    console.log(
      JSON.stringify({
        bench: 'instructions',
        system: s.name,
        json: figures.json[s.name],
        stream: figures.stream[s.name],
        seconds: Math.round((Date.now() - t0) / 1000),
        load: loadavg().map((x) => Math.round(x * 100) / 100),
      }),
    );
    const child = children.at(-1);
    child.removeAllListeners('exit');
    child.kill('SIGKILL');
  }
  const r2 = (x) => Math.round(x * 100) / 100;
  for (const mode of ['json', 'stream']) {
    const f = figures[mode];
    const line = { bench: 'instructions', mode, requests: N, warmup: WARMUP, connections: CONNECTIONS };
    for (const [n, v] of Object.entries(f)) {
      line[`${n}_instructions_per_request`] = v.main;
      line[`${n}_all_threads_per_request`] = v.all;
    }
    if (f.tasklane && f.proxy) line.tasklane_vs_proxy = r2(f.tasklane.main / f.proxy.main);
    if (f.tasklane && f.portkey) line.tasklane_vs_portkey = r2(f.tasklane.main / f.portkey.main);
    line.load = loadavg().map(r2);
    console.log(JSON.stringify(line));
  }
}

function stopAll() {
  for (const c of children) {
    c.removeAllListeners('exit');
    c.kill('SIGKILL');
  }
}

main()
  .then(() => process.stderr.write(`bench instructions: done in ${Math.round((Date.now() - started) / 1000)} s\n`))
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
