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
      /PostgreSQL is needed at postgres:\/\/…@127\.0\.0\.1:1\/test: start it, or point DOCUMENTS_DATABASE_URL at one/,
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
