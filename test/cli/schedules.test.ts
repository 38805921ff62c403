/**
 * `tasklane schedules list` and GET /v1/schedules as a user meets them: the built CLI against a
 * real `tasklane serve` whose config has a seconds schedule; admin scope required; a bad cron in
 * the config stops `serve` with exit 2 and the setting named.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/runtime.js';
import { assertBuilt, runCli, startServe, type ServeProcess } from './cli-process.js';

const ADMIN = 'cli-sched-admin-key-1';
const READER = 'cli-sched-reader-key-1';

describe('tasklane schedules list', () => {
  let serve: ServeProcess;
  let tmp: { dir: string; remove(): void };

  beforeAll(async () => {
    assertBuilt('cli/schedules.js');
    tmp = tempDir();
    const config = join(tmp.dir, 'tasklane.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        server: {
          apiKeys: [
            { key: ADMIN, scopes: ['admin'] },
            { key: READER, scopes: ['jobs:read'] },
          ],
        },
        jobs: { pollMs: 50 },
        schedules: [{ name: 'every', task: 'demo.progress', cron: '* * * * * *', input: { steps: 1, ms: 1 } }],
      }),
    );
    serve = await startServe(['--port', '0', '--data', join(tmp.dir, 'data'), '--config', config], { cwd: tmp.dir });
    await new Promise((r) => setTimeout(r, 1_500));
  });
  afterAll(async () => {
    await serve?.stop();
    tmp?.remove();
  });

  it('prints each schedule with its next tick and latest job', async () => {
    const r = await runCli(['schedules', 'list'], { env: { TASKLANE_URL: serve.url, TASKLANE_API_KEY: ADMIN } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^every {2}demo\.progress {2}"\* \* \* \* \* \*" UTC {2}next \S+Z {2}last \S+Z job [0-9a-f-]{36}$/m);
    const json = await runCli(['schedules', 'list', '--json'], { env: { TASKLANE_URL: serve.url, TASKLANE_API_KEY: ADMIN } });
    const [s] = (JSON.parse(json.stdout) as { schedules: Array<Record<string, unknown>> }).schedules;
    expect(s).toMatchObject({ name: 'every', task: 'demo.progress', timezone: 'UTC', overlap: 'skip', input: { steps: 1, ms: 1 } });
    const job = await fetch(`${serve.url}/v1/jobs/${s!.lastJobId}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(((await job.json()) as { task: string }).task).toBe('demo.progress');
  });

  it('needs the admin scope, over HTTP and from the CLI', async () => {
    const res = await fetch(`${serve.url}/v1/schedules`, { headers: { authorization: `Bearer ${READER}` } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('TL_ERR_AUTH_FORBIDDEN');
    expect((await fetch(`${serve.url}/v1/schedules`)).status).toBe(401);
    const r = await runCli(['schedules', 'list'], { env: { TASKLANE_URL: serve.url, TASKLANE_API_KEY: READER } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TL_ERR_AUTH_FORBIDDEN.*\n.*admin scope/);
    const usage = await runCli(['schedules', 'show'], { env: { TASKLANE_URL: serve.url } });
    expect(usage.code).toBe(2);
  });

  it('a bad cron in the config stops serve with exit 2, naming the setting', async () => {
    const config = join(tmp.dir, 'bad.config.json');
    writeFileSync(config, JSON.stringify({ schedules: [{ name: 'x', task: 'demo.progress', cron: '61 * * * *' }] }));
    const r = await runCli(['serve', '--port', '0', '--data', join(tmp.dir, 'bad'), '--config', config], { cwd: tmp.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/schedules\.0\.cron: "61 \* \* \* \*" is not a cron expression/);
  });
});
