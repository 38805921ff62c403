/**
 * `tasklane doctor` as a user runs it: the built CLI (`npm run build` first; `npm test` does),
 * spawned against mock providers. It prints an aligned table without a key, exits 0 when every
 * check passes, 1 when one fails, 2 on a configuration error naming the variable to set.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { tempDir } from '../support/runtime.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/tasklane.js');

function run(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'doctor', ...args], {
      cwd,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * An upstream whose /v1/models checks the bearer key like OpenAI does (401 for an unknown key)
 * and records the keys it saw.
 */
async function keyCheckingUpstream(goodKeys: string[]): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server = createHttpServer((req, res) => {
    const key = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    seen.push(key);
    const ok = req.url === '/v1/models' && goodKeys.includes(key);
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        ok
          ? { object: 'list', data: [{ id: 'm1', object: 'model' }] }
          : { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } },
      ),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A TCP port that accepts connections and never answers (a hung provider). */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('tasklane doctor', () => {
  let mocks: MockProvider[] = [];
  let tmp: ReturnType<typeof tempDir>;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist/cli/doctor.js')))
      throw new Error('dist/cli/doctor.js is missing: run `npm run build` first (npm test does)');
  });

  afterEach(async () => {
    await Promise.all(mocks.map((m) => m.close()));
    await Promise.all(closers.splice(0).map((c) => c()));
    mocks = [];
    tmp?.remove();
  });

  async function setup(providers: (urls: string[]) => Record<string, unknown>, count = 2): Promise<string> {
    mocks = await Promise.all(Array.from({ length: count }, () => startMockProvider()));
    tmp = tempDir('doctor-');
    const file = join(tmp.dir, 'tasklane.config.json');
    writeFileSync(file, JSON.stringify({ providers: providers(mocks.map((m) => m.url)) }));
    return file;
  }

  it('prints an aligned table and exits 0 when every provider answers with every key', async () => {
    const config = await setup(([a, b]) => ({
      openrouter: { type: 'openai-compatible', baseURL: `${a}/v1`, apiKeys: ['env:DOCTOR_KEY_A', 'literal-key-a2'], models: ['gpt-mock'] },
      local: { type: 'ollama', baseURL: b },
    }));
    const res = await run(['--config', config], { DOCTOR_KEY_A: 'secret-key-a1' }, tmp.dir);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^PROVIDER\s+TYPE\s+KEY\s+AUTH\s+MODELS\s+LATENCY/);
    const rows = lines.slice(1, 4);
    expect(rows[0]).toMatch(/^openrouter\s+openai-compatible\s+#0\s+ok\s+\d+\s+\d+ ms/);
    expect(rows[1]).toMatch(/^openrouter\s+openai-compatible\s+#1\s+ok\s+\d+\s+\d+ ms/);
    expect(rows[2]).toMatch(/^local\s+ollama\s+-\s+ok\s+\d+\s+\d+ ms/);
    // Columns line up: AUTH starts at the same offset on every line.
    const col = lines[0]!.indexOf('AUTH');
    for (const r of rows) expect(r.slice(col, col + 2)).toBe('ok');
    expect(res.stdout).toContain('all 3 checks passed');
    expect(res.stdout).not.toContain('secret-key-a1');
    expect(res.stdout).not.toContain('literal-key-a2');
  });

  it('exits 1 and says which key was refused and which provider is unreachable or silent', async () => {
    const silent = await silentServer();
    closers.push(silent.close);
    const dead = await silentServer();
    const deadUrl = dead.url;
    await dead.close(); // nothing listens there any more
    const strict = await keyCheckingUpstream(['good-key']);
    closers.push(strict.close);
    const config = await setup(
      () => ({
        groq: { type: 'openai-compatible', baseURL: `${strict.url}/v1`, apiKeys: ['good-key', 'bad-key'] },
        gone: { type: 'openai-compatible', baseURL: `${deadUrl}/v1`, apiKeys: ['k'] },
        hung: { type: 'openai-compatible', baseURL: `${silent.url}/v1`, apiKeys: ['k'] },
      }),
      0,
    );
    const t0 = performance.now();
    const res = await run(['--config', config, '--timeout-ms', '1500'], {}, tmp.dir);
    expect(res.code).toBe(1);
    expect(performance.now() - t0).toBeLessThan(15_000);
    const row = (p: string, k: string) => res.stdout.split('\n').find((l) => l.startsWith(p) && l.includes(` ${k} `)) ?? '';
    expect(row('groq', '#0')).toMatch(/\bok\b/);
    expect(row('groq', '#1')).toMatch(/\brefused\b/);
    expect(row('gone', '#0')).toMatch(/\bunreachable\b/);
    expect(row('hung', '#0')).toMatch(/\btimeout\b/);
    expect(res.stdout).toContain('3 of 4 checks failed');
    expect(res.stdout).not.toContain('bad-key');
    expect(res.stdout).not.toContain('good-key');
    // Each key was tried once, and only once.
    expect(strict.seen.sort()).toEqual(['bad-key', 'good-key']);
  });

  it('exits 2 naming the variable to set when a key cannot be resolved', async () => {
    const config = await setup(
      ([a]) => ({ mistral: { type: 'openai-compatible', baseURL: `${a}/v1`, apiKeys: ['env:MISTRAL_API_KEY'] } }),
      1,
    );
    const res = await run(['--config', config], {}, tmp.dir);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('MISTRAL_API_KEY');
    expect(res.stderr).toContain('providers.mistral.apiKeys[0]');
    expect(mocks[0]!.calls).toHaveLength(0);
  });

  it('prints JSON with --json and rejects a bad --timeout-ms with exit 2', async () => {
    const config = await setup(([a]) => ({ p: { type: 'openai-compatible', baseURL: `${a}/v1`, apiKeys: ['json-key'] } }), 1);
    const res = await run(['--config', config, '--json'], {}, tmp.dir);
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as { ok: boolean; checks: Array<{ provider: string; keyIndex: number; status: string }> };
    expect(out.ok).toBe(true);
    expect(out.checks).toEqual([expect.objectContaining({ provider: 'p', keyIndex: 0, status: 'ok' })]);
    expect(res.stdout).not.toContain('json-key');
    const bad = await run(['--config', config, '--timeout-ms', 'soon'], {}, tmp.dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--timeout-ms');
  });
});
