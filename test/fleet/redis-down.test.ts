/**
 * A server on its own redis-server, which is killed mid-run: /readyz says not ready while Redis is
 * down and ready again when it is back; close() returns within its deadline with Redis gone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/fleet.js';
import { spawnRedis, type OwnRedis } from '../support/redis.js';
import { testServer, type TestRuntime } from '../support/runtime.js';

describe('a server whose Redis goes away', () => {
  let redis: OwnRedis | undefined;
  let server: (TestRuntime & { url: string }) | undefined;
  afterEach(async () => {
    await server?.close();
    await redis?.kill();
  });

  it('is not ready while Redis is down, recovers, and closes within its deadline', async () => {
    redis = await spawnRedis();
    const closeDeadlineMs = 4_000;
    server = await testServer({
      store: { engine: 'redis', url: redis.url, prefix: 'down' },
      jobs: { leaseMs: 2_000, pollMs: 50 },
      closeDeadlineMs,
    });
    const readyz = async () => (await fetch(`${server!.url}/readyz`)).status;
    expect(await readyz()).toBe(200);
    const submit = () =>
      fetch(`${server!.url}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'demo.progress', input: { steps: 200, ms: 50 } }),
      });
    const job = (await (await submit()).json()) as { id: string };
    await eventually(
      'the job runs',
      async () => ((await (await fetch(`${server!.url}/v1/jobs/${job.id}`)).json()) as { state: string }).state === 'running',
    );

    await redis.kill();
    await eventually('/readyz answers 503', async () => (await readyz()) === 503, 10_000);
    const body = (await (await fetch(`${server.url}/readyz`)).json()) as { problems: Record<string, string> };
    expect(body.problems.store).toMatch(/redis not connected/);
    // Work is refused with a store error, not left hanging.
    const refused = await submit();
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('TL_ERR_STORE_UNAVAILABLE');

    await redis.restart();
    await eventually('/readyz answers 200 again', async () => (await readyz()) === 200, 15_000);
    expect((await submit()).status).toBe(201);

    // Down again, with a job running: close() still returns within its deadline.
    await redis.kill();
    await eventually('/readyz answers 503', async () => (await readyz()) === 503, 10_000);
    const t0 = Date.now();
    const report = await server.runtime.close();
    expect(Date.now() - t0).toBeLessThan(closeDeadlineMs + 1_000);
    expect(server.runtime.state).toBe('closed');
    expect(report).toBeDefined();
  }, 60_000);
});
