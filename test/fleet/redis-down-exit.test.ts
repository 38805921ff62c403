/**
 * Issue 18 points 4 and 9, against a real `tasklane serve` on a private redis-server started and
 * killed by the test: while Redis is down a submission is a 503 TL_ERR_STORE_UNAVAILABLE within
 * about a second naming the store and what to check; SIGTERM with Redis gone and five jobs running
 * ends the process within the close deadline + 1 s, with a non-zero code naming what hung.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, startServe, type ServeProcess } from '../cli/cli-process.js';
import { eventually } from '../support/fleet.js';
import { spawnRedis, type OwnRedis } from '../support/redis.js';
import { tempDir } from '../support/runtime.js';

describe('tasklane serve whose Redis dies', () => {
  let redis: OwnRedis | undefined;
  let serve: ServeProcess | undefined;
  const dir = tempDir('tasklane-redis-exit-');
  beforeAll(() => assertBuilt('cli/main.js'));
  afterEach(async () => {
    if (serve && serve.child.exitCode === null) serve.child.kill('SIGKILL');
    await redis?.kill();
  });

  it('fails fast with a useful 503 while Redis is down, and exits within the deadline on SIGTERM with five jobs running', async () => {
    redis = await spawnRedis();
    const closeDeadlineMs = 3_000;
    const config = join(dir.dir, 'tasklane.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        store: { engine: 'redis', url: 'env:TEST_REDIS_URL', prefix: 'exit' },
        data: dir.dir,
        jobs: { leaseMs: 2_000, pollMs: 50 },
        lanes: { demo: { placement: 'loop', concurrency: 5, maxQueue: 10, timeoutMs: 60_000 } },
        closeDeadlineMs,
        log: { level: 'warn' },
      }),
    );
    serve = await startServe(['--config', config, '--port', '0'], { env: { TEST_REDIS_URL: redis.url }, timeoutMs: 20_000 });
    const url = serve.url;
    const submit = () =>
      fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'demo.progress', input: { steps: 400, ms: 50 } }),
      });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(((await (await submit()).json()) as { id: string }).id);
    await eventually(
      'five jobs run',
      async () => {
        const page = (await (await fetch(`${url}/v1/jobs?state=running`)).json()) as { jobs: unknown[] };
        return page.jobs.length === 5;
      },
      15_000,
    );

    await redis.kill();
    // Point 9: a store error, fast, that says what to check (the password-free address, the setting).
    const t0 = Date.now();
    const refused = await submit();
    const took = Date.now() - t0;
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('TL_ERR_STORE_UNAVAILABLE');
    expect(body.error.message).toContain(`127.0.0.1:${redis.port}`);
    expect(body.error.message).toContain('store.url');
    expect(body.error.message).not.toMatch(/maxRetriesPerRequest|max retries per request/i);
    expect(took).toBeLessThan(2_500);

    // Point 4: SIGTERM ends the process within the deadline + 1 s, non-zero, naming what hung.
    const t1 = Date.now();
    const code = await serve.stop(closeDeadlineMs + 10_000);
    const exitMs = Date.now() - t1;
    expect(exitMs).toBeLessThan(closeDeadlineMs + 1_000);
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(serve.stderr()).toMatch(/did not close before the deadline/);
  }, 60_000);
});

describe('the library with Redis gone', () => {
  let redis: OwnRedis | undefined;
  let child: ChildProcess | undefined;
  const dir = tempDir('tasklane-redis-linger-');
  afterEach(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await redis?.kill();
  });

  it('close() leaves no handle that keeps the process alive (no process.exit in the fixture)', async () => {
    redis = await spawnRedis();
    const config = join(dir.dir, 'tasklane.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        server: { port: 0 },
        store: { engine: 'redis', url: redis.url, prefix: 'linger' },
        data: dir.dir,
        jobs: { leaseMs: 2_000, pollMs: 50 },
        lanes: { demo: { placement: 'loop', concurrency: 5, maxQueue: 10, timeoutMs: 60_000 } },
        closeDeadlineMs: 2_000,
        log: { level: 'silent' },
      }),
    );
    const proc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/close-no-exit.ts'), config], {
      cwd: join(import.meta.dirname, '../..'),
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    child = proc;
    const lines = createInterface({ input: proc.stdout! });
    const next = () => new Promise<string>((resolve) => lines.once('line', resolve));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const url = /^listening (\S+)$/.exec(await next())![1]!;
    for (let i = 0; i < 5; i++)
      await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'demo.progress', input: { steps: 400, ms: 50 } }),
      });
    await eventually(
      'five jobs run',
      async () => ((await (await fetch(`${url}/v1/jobs?state=running`)).json()) as { jobs: unknown[] }).jobs.length === 5,
      15_000,
    );
    await redis.kill();
    proc.kill('SIGTERM');
    expect(await next()).toMatch(/^closed /);
    // Bounded waits still running when close() returned (a QUIT, a BullMQ close) end within a few seconds.
    const gone = await Promise.race([exited, new Promise<'alive'>((r) => setTimeout(() => r('alive'), 5_000))]);
    expect(gone, 'the process is still alive 5 s after close() returned').not.toBe('alive');
  }, 60_000);
});
