/**
 * `tasklane serve` as a user runs it (the built CLI): the first stdout line is the URL, bad
 * settings exit 2 naming the setting, SIGTERM closes gracefully.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/runtime.js';
import { assertBuilt, runCli, startServe, type ServeProcess } from './cli-process.js';

describe('tasklane serve', () => {
  const cleanups: Array<() => unknown> = [];
  beforeAll(() => assertBuilt('cli/serve.js'));
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function tmp(): string {
    const t = tempDir();
    cleanups.push(t.remove);
    return t.dir;
  }

  it('prints "listening http://HOST:PORT" first with --port 0, serves, and exits 0 on SIGTERM', async () => {
    const dir = tmp();
    const serve: ServeProcess = await startServe(['--port', '0', '--data', join(dir, 'data')], { cwd: dir });
    cleanups.push(() => serve.stop());
    expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(new URL(serve.url).port)).toBeGreaterThan(0);
    const health = await fetch(`${serve.url}/healthz`);
    expect(health.status).toBe(200);
    // A job in flight does not stop a graceful close.
    await fetch(`${serve.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'demo.progress', input: { steps: 20, ms: 50 } }),
    });
    expect(await serve.stop()).toBe(0);
    expect(serve.stderr()).toMatch(/"signal":"SIGTERM"/);
  });

  it('exits 2 naming --port when it is not a number', async () => {
    const dir = tmp();
    const r = await runCli(['serve', '--port', 'abc', '--data', dir], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--port');
    expect(r.stdout).toBe('');
  });

  it('exits 2 naming the setting when the config file is wrong', async () => {
    const dir = tmp();
    const file = join(dir, 'tasklane.config.json');
    writeFileSync(file, JSON.stringify({ server: { port: 'eighty' } }));
    const r = await runCli(['serve', '--config', file, '--data', dir], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('server.port');
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"server": ');
    const b = await runCli(['serve', '--config', broken, '--data', dir], { cwd: dir });
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('broken.json');
  });
});
