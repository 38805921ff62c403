/**
 * Issue #16, point 6: an example that can not start says why and what to do, in two lines, with
 * no stack: the documents example with PostgreSQL unreachable (exit 1), the provider panel with
 * its real keys asked for and missing (exit 2). Real processes through `npm run example`'s runner.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support/runtime.js';

const RUN = fileURLToPath(new URL('../run.js', import.meta.url));
const tmp = tempDir('example-start-');
afterAll(() => tmp.remove());

function example(name: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Run from another folder, as a person may: the runner finds tsx itself.
    const child = spawn(process.execPath, [RUN, name], {
      cwd: tmp.dir,
      env: { PATH: process.env.PATH, TASKLANE_DATA: tmp.dir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('examples that can not start', () => {
  it('documents with PostgreSQL down: what failed, where, and what to do; exit 1', async () => {
    const r = await example('documents', { DOCUMENTS_DATABASE_URL: 'postgres://postgres:secret-pw@127.0.0.1:1/test' });
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain('listening');
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe('the example could not start: ECONNREFUSED at 127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1');
    expect(lines[1]).toMatch(
      /PostgreSQL is needed at postgres:\/\/…@127\.0\.0\.1:1\/test: start it, point DOCUMENTS_DATABASE_URL at one, or run with --no-postgres/,
    );
    expect(lines).toHaveLength(2);
    expect(r.stderr).not.toContain('secret-pw');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('provider-panel with its real keys asked for but missing: every missing secret named; exit 2', async () => {
    const r = await example('provider-panel', { OPENROUTER_API_KEY: 'set-but-alone' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^the example could not start: TL_ERR_CONFIG_SECRET_MISSING: 2 secrets are missing/);
    expect(r.stderr).toContain('OLLAMA_API_KEY');
    expect(r.stderr).toContain('secrets/mistral.key');
    expect(r.stderr).toMatch(/unset OPENROUTER_API_KEY to run on local mocks/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toContain('set-but-alone');
  }, 60_000);
});

describe('failure scenarios a person can switch on', () => {
  it('interview --break-key-0: key #0 fails every call, the answers say another key served them', async () => {
    const child = spawn(process.execPath, [RUN, 'interview', '--break-key-0'], {
      cwd: tmp.dir,
      env: { PATH: process.env.PATH, TASKLANE_DATA: `${tmp.dir}/interview` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      let stdout = '';
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL; stdout: ${stdout}`)), 45_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d;
          const m = /running at (\S+)/.exec(stdout);
          if (m && /failure scenario on/.test(stdout)) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
      });
      expect(stdout).toMatch(/failure scenario on: Groq key #0 is broken/);
      const res = await fetch(`${url}/interviews`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ role: 'Tester', difficulty: 'Easy' }),
      });
      expect(res.status).toBe(201);
      const body = (await res.json()) as { questions: Array<{ served: { provider: string; keyIndex: number } }> };
      expect(body.questions).toHaveLength(5);
      for (const q of body.questions) {
        expect(q.served.provider).toBe('groq');
        expect(q.served.keyIndex).not.toBe(0);
      }
    } finally {
      child.kill('SIGINT');
      await exited;
    }
  }, 60_000);
});

describe('results-compiler --flood', () => {
  it('floods the data lane and prints how fast /health stayed', async () => {
    const child = spawn(process.execPath, [RUN, 'results-compiler', '--flood'], {
      cwd: tmp.dir,
      env: { PATH: process.env.PATH, TASKLANE_DATA: `${tmp.dir}/results` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      let stdout = '';
      const line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no flood result; stdout: ${stdout}`)), 100_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d;
          const m = /^flood: \d+\/\d+ compiled.*$/m.exec(stdout);
          if (m) {
            clearTimeout(timer);
            resolve(m[0]);
          }
        });
      });
      expect(stdout).toMatch(/failure scenario on: flooding the data lane/);
      expect(line).toMatch(/^flood: 20\/20 compiled in [\d.]+ s; \/health answered \d+ times, p50 \d+ ms, max \d+ ms/);
    } finally {
      child.kill('SIGINT');
      await exited;
    }
  }, 120_000);
});

describe('provider-panel on Ctrl+C', () => {
  it('counts its open sockets before and after close(): none is left', async () => {
    const child = spawn(process.execPath, [RUN, 'provider-panel'], {
      cwd: tmp.dir,
      env: { PATH: process.env.PATH, TASKLANE_DATA: `${tmp.dir}/panel` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    const until = Date.now() + 45_000;
    while (!/running at (\S+)/.test(stdout) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    const url = /running at (\S+)/.exec(stdout)![1]!;
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/panel/ask`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ provider: 'mistral', prompt: 'Hello' }),
      });
      expect(res.status).toBe(200);
      await res.text();
    }
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const m = /^closed: (\d+) sockets were open, (\d+) are left$/m.exec(stdout);
    expect(m, stdout).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![2])).toBe(0);
  }, 60_000);
});
