// Gateway overhead, side by side on one loopback mock upstream: the direct call, a bare
// pass-through proxy (the practical ceiling), tasklane, and the Portkey gateway. Every system
// runs in its own process; load comes from this process (sequential rounds, then autocannon).
// Prints one JSON line per figure. Bounded: the whole run takes well under 100 s.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Pool } from 'undici';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const started = Date.now();
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 100);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 1.2);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,4,16,64').split(',').map(Number);
const children = [];

/**
 * The Portkey gateway is a bench-only peer with its own install (bench/package.json), so that
 * `npm ci` at the root does not install it for every user.
 */
function portkeyServer() {
  const file = join(here, 'node_modules/@portkey-ai/gateway/build/start-server.js');
  if (!existsSync(file)) {
    process.stderr.write(
      'bench gateway: the Portkey gateway is not installed; run `npm --prefix bench ci` once, then `npm run bench -- gateway`\n',
    );
    process.exit(2);
  }
  return file;
}

function start(name, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 20 s: ${err}`)), 20_000);
    child.on('exit', (code) => reject(new Error(`${name} exited with ${code}: ${err}`)));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const m =
        /(?:listening|running on|Your AI Gateway is now running on)\D*?(http:\/\/[^\s/]+)/i.exec(line) ??
        /(http:\/\/(?:127\.0\.0\.1|localhost):\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace('localhost', '127.0.0.1'));
      }
    });
  });
}

function freePort() {
  return new Promise((resolve) => {
    import('node:net').then(({ createServer }) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
  });
}

const body = (stream) =>
  JSON.stringify({
    model: 'bench',
    messages: [{ role: 'user', content: 'Say hello to the benchmark.' }],
    ...(stream ? { stream: true } : {}),
  });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

async function main() {
  const mock = await start('mock', [join(here, 'gateway/mock-upstream.js')]);
  const proxy = await start('proxy', [join(here, 'gateway/passthrough-proxy.js'), mock]);

  const dir = mkdtempSync(join(tmpdir(), 'tasklane-bench-'));
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
      // Fair comparison: no answer is served from cache and identical requests are not merged.
      ai: { cache: { enabled: false }, singleFlight: false },
      lanes: { ai: { concurrency: 1024, maxQueue: 4096 } },
    }),
  );
  const tasklane = await start('tasklane', [join(root, 'bin/tasklane.js'), 'serve', '--config', config, '--port', '0']);
  // The same gateway with cost and budgets on: a price, and a client key with a budget and a
  // token limit (never reached), so every call is admitted against the spend store and charged.
  const accountedDir = mkdtempSync(join(tmpdir(), 'tasklane-bench-acct-'));
  const accountedConfig = join(accountedDir, 'tasklane.config.json');
  const plain = JSON.parse(readFileSync(config, 'utf8'));
  writeFileSync(
    accountedConfig,
    JSON.stringify({
      ...plain,
      data: accountedDir,
      server: { apiKeys: [{ key: 'bench-client', name: 'bench', budget: { usdPerDay: 1e9 }, limits: { tokensPerMinute: 1e12 } }] },
      ai: { ...plain.ai, prices: { 'mock/bench-model': { input: 0.15, output: 0.6 } } },
    }),
  );
  const accounted = await start('tasklane-accounted', [join(root, 'bin/tasklane.js'), 'serve', '--config', accountedConfig, '--port', '0']);

  const portkeyPort = await freePort();
  const portkey = await start('portkey', [portkeyServer(), `--port=${portkeyPort}`, '--headless']);

  const systems = {
    direct: { url: mock, headers: { authorization: 'Bearer bench-key' }, body: (s) => body(s).replace('"bench"', '"bench-model"') },
    proxy: { url: proxy, headers: { authorization: 'Bearer bench-key' }, body: (s) => body(s).replace('"bench"', '"bench-model"') },
    tasklane: { url: tasklane, headers: {}, body },
    tasklane_accounted: { url: accounted, headers: { authorization: 'Bearer bench-client' }, body },
    portkey: {
      url: portkey,
      headers: { authorization: 'Bearer bench-key', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${mock}/v1` },
      body: (s) => body(s).replace('"bench"', '"bench-model"'),
    },
  };
  const names = Object.keys(systems);
  /** The throughput rows compare the plain gateway with its peers; the accounted one is in (1) only. */
  const peers = names.filter((n) => n !== 'tasklane_accounted');

  // Check every system answers correctly before measuring anything.
  for (const name of names) {
    for (const stream of [false, true]) {
      const s = systems[name];
      const res = await fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...s.headers },
        body: s.body(stream),
      });
      const text = await res.text();
      if (res.status !== 200 || !text.includes('bench'))
        throw new Error(`${name} (stream ${stream}) answered ${res.status}: ${text.slice(0, 300)}`);
    }
  }

  // (1) Added latency: sequential requests, systems interleaved round by round so drift hits all alike.
  const pools = Object.fromEntries(names.map((n) => [n, new Pool(systems[n].url, { connections: 1 })]));
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  const one = async (n) => {
    const s = systems[n];
    const t0 = process.hrtime.bigint();
    const res = await pools[n].request({
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', ...s.headers },
      body: s.body(false),
    });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${n} answered ${res.statusCode}`);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  for (const n of names) for (let i = 0; i < 50; i++) await one(n); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of names) {
      const xs = [];
      for (let i = 0; i < PER_ROUND; i++) xs.push(await one(n));
      samples[n].push(median(xs));
    }
  }
  await Promise.all(Object.values(pools).map((p) => p.close()));
  const p50 = Object.fromEntries(names.map((n) => [n, median(samples[n])]));
  const added = (n) => round(p50[n] - p50.direct);
  console.log(
    JSON.stringify({
      bench: 'gateway',
      figure: 'added_latency_p50_ms',
      rounds: ROUNDS,
      per_round: PER_ROUND,
      direct_p50_ms: round(p50.direct),
      proxy_added_ms: added('proxy'),
      tasklane_added_ms: added('tasklane'),
      portkey_added_ms: added('portkey'),
      tasklane_vs_portkey: round(added('tasklane') / added('portkey')),
      // Cost and budgets on (a price, a key with a budget and a token limit; SQLite spend store): the same call.
      tasklane_accounted_added_ms: added('tasklane_accounted'),
      accounting_cost_ms: round(p50.tasklane_accounted - p50.tasklane),
      goal: 'tasklane_added_ms <= 0.3 and tasklane_vs_portkey <= 0.2',
    }),
  );

  // (2) Throughput and tail latency under concurrency, plain and streamed.
  for (const stream of [false, true]) {
    for (const c of CONCURRENCY) {
      const fig = { bench: 'gateway', figure: 'throughput', mode: stream ? 'stream' : 'json', connections: c };
      for (const n of peers) {
        const s = systems[n];
        const result = await autocannon({
          url: `${s.url}/v1/chat/completions`,
          method: 'POST',
          headers: { 'content-type': 'application/json', ...s.headers },
          body: s.body(stream),
          connections: c,
          duration: DURATION_S,
        });
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`${n} c${c}: ${result.non2xx} non-2xx, ${result.errors} errors`);
        fig[`${n}_rps`] = Math.round(result.requests.average);
        fig[`${n}_p50_ms`] = result.latency.p50;
        fig[`${n}_p99_ms`] = result.latency.p99;
      }
      fig.tasklane_vs_proxy = round(fig.tasklane_rps / fig.proxy_rps);
      fig.tasklane_vs_portkey = round(fig.tasklane_rps / fig.portkey_rps);
      console.log(JSON.stringify(fig));
    }
  }
  // (3) The other dialects at 16 connections: embeddings (every system), and Anthropic's
  // /v1/messages translated to the same upstream beside tasklane's own chat completions.
  const embedBody = (model) =>
    JSON.stringify({ model, input: ['Say hello to the benchmark.', 'And once more.'], encoding_format: 'float' });
  const embedSystems = {
    direct: { url: mock, headers: systems.direct.headers, body: embedBody('bench-embed') },
    proxy: { url: proxy, headers: systems.proxy.headers, body: embedBody('bench-embed') },
    tasklane: { url: tasklane, headers: {}, body: embedBody('bench') },
    portkey: { url: portkey, headers: systems.portkey.headers, body: embedBody('bench-embed') },
  };
  const c = 16;
  const fig = { bench: 'gateway', figure: 'throughput', mode: 'embeddings', connections: c };
  for (const [n, s] of Object.entries(embedSystems)) {
    const res = await fetch(`${s.url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...s.headers },
      body: s.body,
    });
    const text = await res.text();
    if (res.status !== 200 || !text.includes('"embedding"'))
      throw new Error(`${n} embeddings answered ${res.status}: ${text.slice(0, 300)}`);
    const result = await autocannon({
      url: `${s.url}/v1/embeddings`,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...s.headers },
      body: s.body,
      connections: c,
      duration: DURATION_S,
    });
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${n} embeddings: ${result.non2xx} non-2xx, ${result.errors} errors`);
    fig[`${n}_rps`] = Math.round(result.requests.average);
    fig[`${n}_p99_ms`] = result.latency.p99;
  }
  fig.tasklane_vs_proxy = round(fig.tasklane_rps / fig.proxy_rps);
  fig.tasklane_vs_portkey = round(fig.tasklane_rps / fig.portkey_rps);
  console.log(JSON.stringify(fig));

  const messagesBody = (stream) =>
    JSON.stringify({
      model: 'bench',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Say hello to the benchmark.' }],
      ...(stream ? { stream: true } : {}),
    });
  for (const stream of [false, true]) {
    const row = { bench: 'gateway', figure: 'throughput', mode: stream ? 'messages-stream' : 'messages-json', connections: c };
    const runs = {
      tasklane_messages: { path: '/v1/messages', body: messagesBody(stream), url: tasklane, headers: {} },
      tasklane_chat: { path: '/v1/chat/completions', body: body(stream), url: tasklane, headers: {} },
      proxy_chat: { path: '/v1/chat/completions', body: systems.proxy.body(stream), url: proxy, headers: systems.proxy.headers },
    };
    for (const [n, r] of Object.entries(runs)) {
      const res = await fetch(`${r.url}${r.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...r.headers },
        body: r.body,
      });
      const text = await res.text();
      if (res.status !== 200 || !text.includes('bench')) throw new Error(`${n} answered ${res.status}: ${text.slice(0, 300)}`);
      const result = await autocannon({
        url: `${r.url}${r.path}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...r.headers },
        body: r.body,
        connections: c,
        duration: DURATION_S,
      });
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`${n}: ${result.non2xx} non-2xx, ${result.errors} errors`);
      row[`${n}_rps`] = Math.round(result.requests.average);
      row[`${n}_p99_ms`] = result.latency.p99;
    }
    row.messages_vs_chat = round(row.tasklane_messages_rps / row.tasklane_chat_rps);
    row.messages_vs_proxy = round(row.tasklane_messages_rps / row.proxy_chat_rps);
    console.log(JSON.stringify(row));
  }
  rmSync(dir, { recursive: true, force: true });
  rmSync(accountedDir, { recursive: true, force: true });
}

const deadline = setTimeout(
  () => {
    console.error('bench/gateway: over its time bound (BENCH_BOUND_S, default 100 s), stopping');
    stopAll();
    process.exit(1);
  },
  Number(process.env.BENCH_BOUND_S ?? 100) * 1000,
);

function stopAll() {
  for (const c of children) {
    c.removeAllListeners('exit');
    c.kill('SIGTERM');
  }
}

main()
  .then(() => {
    console.error(`bench/gateway: done in ${Math.round((Date.now() - started) / 1000)} s`);
    clearTimeout(deadline);
    stopAll();
  })
  .catch((err) => {
    console.error(err);
    stopAll();
    process.exit(1);
  });
