/**
 * Issue #16, points 3, 5 and 7, as a new user meets them: the built CLI in real processes, on a
 * terminal (a pty made by util-linux `script`) and off one. Zero-config start, start-up errors
 * that exit 2 with the fix, the jobs commands' output and exit codes, Ctrl+C, the access log.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/runtime.js';
import { BIN, assertBuilt, runCli, startServe, type ServeProcess } from './cli-process.js';

const KEY = 'first-hour-key-5678';
const ESC = '\x1b[';

/** Runs `tasklane <args>` on a pseudo-terminal; returns everything it wrote (stdout and stderr mixed, as a terminal shows them). */
function runInPty(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<{ code: number | null; out: string }> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    // `script` returns the command's exit code with -e; its own stdout is the terminal's output.
    const child = spawn('script', ['-q', '-e', '-c', quoted, '/dev/null'], {
      env: { PATH: process.env.PATH, TERM: 'xterm', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const hasScript = spawnSync('script', ['--version']).status === 0;

describe('tasklane serve with zero configuration', () => {
  let tmp: { dir: string; remove(): void };
  beforeAll(() => {
    assertBuilt('cli/main.js');
    tmp = tempDir();
  });
  afterAll(() => tmp?.remove());

  it('off a terminal: the first stdout line, then one JSON ready line naming the dashboard, tasks, the missing providers and a command to try; / redirects to the dashboard', async () => {
    const serve = await startServe(['--port', '0', '--data', join(tmp.dir, 'a')], { cwd: tmp.dir });
    try {
      const home = await fetch(`${serve.url}/`, { redirect: 'manual' });
      expect(home.status).toBe(302);
      expect(home.headers.get('location')).toBe('/dashboard');
      const dash = await fetch(`${serve.url}/`);
      expect(dash.status).toBe(200);
      expect(await dash.text()).toContain('<html');
      let ready: any;
      for (let i = 0; i < 50 && !ready; i++) {
        ready = serve
          .stderr()
          .split('\n')
          .filter((l) => l.includes('"ready'))
          .map((l) => JSON.parse(l))[0];
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      // Every stderr line is JSON when stderr is not a terminal.
      for (const line of serve.stderr().split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
      expect(ready).toMatchObject({ level: 30, url: serve.url, dashboard: `${serve.url}/dashboard`, providers: [], auth: false });
      expect(ready.tasks).toEqual(expect.arrayContaining(['demo.progress', 'demo.cpu']));
      expect(ready.providerHint).toMatch(/OPENAI_API_KEY.*GROQ_API_KEY.*"providers"/);
      expect(ready.tryCommand).toBe(`tasklane jobs submit demo.progress --input '{}' --watch --url ${serve.url}`);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });

  it.runIf(hasScript)('on a terminal: the listening line first, then a readable summary (no JSON), coloured unless NO_COLOR', async () => {
    const data = join(tmp.dir, 'b');
    // SIGINT after start-up, as Ctrl+C; `timeout` sends it from inside the pty.
    const run = (env: NodeJS.ProcessEnv) =>
      new Promise<string>((resolve, reject) => {
        const inner = `timeout -s INT 6 '${process.execPath}' '${BIN}' serve --port 0 --data '${data}'`;
        const child = spawn('script', ['-q', '-c', inner, '/dev/null'], {
          cwd: tmp.dir,
          env: { PATH: process.env.PATH, TERM: 'xterm', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d));
        child.on('error', reject);
        child.on('close', () => resolve(out));
      });
    const colour = await run({});
    const lines = colour.replace(/\r/g, '').split('\n');
    expect(lines[0]).toMatch(/^listening http:\/\/127\.0\.0\.1:\d+$/);
    expect(colour).toContain(ESC);
    const plain = await run({ NO_COLOR: '1' });
    expect(plain).not.toContain(ESC);
    const text = plain.replace(/\r/g, '');
    expect(text).toMatch(/tasklane \d+\.\d+\.\d+ is ready at http:\/\/127\.0\.0\.1:\d+/);
    expect(text).toMatch(/dashboard\s+http:\/\/127\.0\.0\.1:\d+\/dashboard/);
    expect(text).toMatch(/tasks\s+demo\.progress, demo\.cpu/);
    expect(text).toMatch(/providers\s+no AI provider found: set OPENAI_API_KEY/);
    expect(text).toMatch(/try\s+tasklane jobs submit demo\.progress --input '\{\}' --watch/);
    // Logs are pretty-printed on a terminal: the close on Ctrl+C is a readable line, not JSON.
    expect(text).toMatch(/INFO: closing/);
    expect(text).not.toMatch(/\{"level"/);
  });

  it('a taken port exits 2 naming the port and --port / --port 0', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await runCli(['serve', '--port', String(port), '--data', join(tmp.dir, 'c')], { cwd: tmp.dir });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(r.stderr).toContain('--port N');
      expect(r.stderr).toContain('--port 0');
    } finally {
      blocker.close();
    }
  });

  it('--host other than loopback without client keys exits 2 with the fix, and binds to nothing', async () => {
    const r = await runCli(['serve', '--host', '0.0.0.0', '--port', '0', '--data', join(tmp.dir, 'd')], { cwd: tmp.dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/server\.host is 0\.0\.0\.0 but no client keys are configured/);
    expect(r.stderr).toMatch(/add server\.apiKeys .*or bind to 127\.0\.0\.1/);
  });

  it('a config with several problems lists every one of them (exit 2)', async () => {
    const file = join(tmp.dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ server: { port: 'eighty' }, lanes: { data: { concurrency: -1 } }, colour: 'blue' }));
    const r = await runCli(['serve', '--config', file], { cwd: tmp.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config has 3 problems:/);
    expect(r.stderr).toMatch(/- config server\.port: /);
    expect(r.stderr).toMatch(/- config lanes\.data\.concurrency: /);
    expect(r.stderr).toMatch(/- config \(root\): unknown setting "colour"/);
    expect(r.stderr).not.toMatch(/more problem/);
  });

  it('npx tasklane -- <command> works (the separator npm hands on is skipped)', async () => {
    const r = await runCli(['--', '--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('tasklane jobs against a server with a client key and the access log on', () => {
  let serve: ServeProcess;
  let tmp: { dir: string; remove(): void };
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    assertBuilt('cli/jobs.js');
    tmp = tempDir();
    const config = join(tmp.dir, 'tasklane.config.json');
    writeFileSync(config, JSON.stringify({ server: { apiKeys: [{ key: KEY, name: 'ops-laptop' }] }, log: { access: true } }));
    serve = await startServe(['--port', '0', '--data', join(tmp.dir, 'data'), '--config', config], { cwd: tmp.dir });
    env = { TASKLANE_URL: serve.url, TASKLANE_API_KEY: KEY };
  });
  afterAll(async () => {
    await serve?.stop();
    tmp?.remove();
  });

  it('off a terminal: every progress event on its own line with elapsed time, one final line, the result on stdout', async () => {
    const r = await runCli(['jobs', 'submit', 'demo.progress', '--input', '{"steps":25,"ms":2}', '--watch'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('{"steps":25}');
    const progress = r.stderr.split('\n').filter((l) => / progress \d+%/.test(l));
    // No throttling: 25 events, 25 lines, each with its time.
    expect(progress).toHaveLength(25);
    for (const line of progress) expect(line).toMatch(/^\[\d+\.\ds\] progress/);
    expect(r.stderr.match(/succeeded/g)).toHaveLength(1);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^✓ job [0-9a-f-]{36} succeeded in \d+\.\ds$/);
    expect(r.stderr).not.toContain(ESC);
  });

  it.runIf(hasScript)('on a terminal: a coloured bar with elapsed time, and a final line that stays (said once)', async () => {
    const r = await runInPty([
      'jobs',
      'submit',
      'demo.progress',
      '--input',
      '{"steps":5,"ms":50}',
      '--watch',
      '--url',
      serve.url,
      '--key',
      KEY,
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${ESC}36m█`);
    expect(r.out).toMatch(/100% \(5\/5\) \S*\[\d+\.\ds\]/);
    // The bar is replaced by the final line: the last visible line is the outcome, then the result.
    const visible = r.out
      .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
      .split(/\r?\n/)
      .map((l) => l.split('\r').at(-1)!)
      .filter(Boolean);
    expect(visible.at(-2)).toMatch(/^✓ job [0-9a-f-]{36} succeeded in \d+\.\ds$/);
    expect(visible.at(-1)).toBe('{"steps":5}');
    expect(r.out.match(/succeeded/g)).toHaveLength(1);
    const plain = await runInPty(
      ['jobs', 'submit', 'demo.progress', '--input', '{"steps":3,"ms":10}', '--watch', '--url', serve.url, '--key', KEY],
      { NO_COLOR: '1' },
    );
    expect(plain.code).toBe(0);
    expect(plain.out).not.toMatch(/\x1b\[\d+m/);
  });

  it('Ctrl+C stops watching, says the job still runs and how to follow it again, exits 130; the job goes on', async () => {
    const submitted = await runCli(['jobs', 'submit', 'demo.progress', '--input', '{"steps":1200,"ms":50}'], { env });
    const id = submitted.stdout.trim();
    const child = spawn(process.execPath, [BIN, 'jobs', 'watch', id], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const sawProgress = new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => ((stderr += d), / progress /.test(stderr) && resolve())),
    );
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await sawProgress;
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr.trim().split('\n').at(-1)).toBe(`stopped watching; job ${id} is still running: tasklane jobs watch ${id}`);
    const job = await runCli(['jobs', 'get', id], { env });
    expect(job.code).toBe(0);
    expect(['running', 'queued']).toContain(JSON.parse(job.stdout).state);
    await runCli(['jobs', 'cancel', id], { env });
  }, 90_000);

  it('jobs get, cancel and retry', async () => {
    const id = (await runCli(['jobs', 'submit', 'demo.progress', '--input', '{"steps":200,"ms":50}'], { env })).stdout.trim();
    const got = await runCli(['jobs', 'get', id], { env });
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ id, task: 'demo.progress', input: { steps: 200, ms: 50 } });
    const cancelled = await runCli(['jobs', 'cancel', id], { env });
    expect(cancelled.code).toBe(0);
    expect(cancelled.stderr).toMatch(new RegExp(`job ${id}`));
    let state = '';
    for (let i = 0; i < 200 && state !== 'cancelled'; i++) {
      const res = await fetch(`${serve.url}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${KEY}` } });
      state = ((await res.json()) as { state: string }).state;
      if (state !== 'cancelled') await new Promise((r) => setTimeout(r, 100));
    }
    expect(state).toBe('cancelled');
    const retried = await runCli(['jobs', 'retry', id], { env });
    expect(retried.code).toBe(0);
    expect(retried.stdout.trim()).toMatch(/^(queued|running)$/);
    expect(retried.stderr).toContain(`tasklane jobs watch ${id}`);
    await runCli(['jobs', 'cancel', id], { env });
    const missing = await runCli(['jobs', 'get', '01a00000-0000-7000-8000-000000000000'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/TL_ERR_JOB_NOT_FOUND/);
    const noId = await runCli(['jobs', 'cancel'], { env });
    expect(noId.code).toBe(2);
  }, 90_000);

  it('log.access: one line per request with method, route, status, ms and the key name, never the key', async () => {
    const before = serve.stderr().length;
    const res = await fetch(`${serve.url}/v1/jobs?limit=1`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(200);
    await res.text();
    const bad = await fetch(`${serve.url}/v1/jobs`, { headers: { authorization: 'Bearer wrong-key' } });
    expect(bad.status).toBe(401);
    await bad.text();
    let lines: any[] = [];
    for (let i = 0; i < 50 && lines.length < 2; i++) {
      lines = serve
        .stderr()
        .slice(before)
        .split('\n')
        .filter((l) => l.includes('"access":true'))
        .map((l) => JSON.parse(l));
      if (lines.length < 2) await new Promise((r) => setTimeout(r, 50));
    }
    expect(lines[0]).toMatchObject({
      level: 30,
      method: 'GET',
      route: '/v1/jobs',
      status: 200,
      client: 'ops-laptop',
      ms: expect.any(Number),
    });
    expect(lines[1]).toMatchObject({ method: 'GET', route: '/v1/jobs', status: 401 });
    expect(lines[1].client).toBeUndefined();
    expect(serve.stderr()).not.toContain(KEY);
    expect(serve.stderr()).not.toContain('wrong-key');
  });
});
