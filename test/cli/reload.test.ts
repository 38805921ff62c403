/** SIGHUP to a real `tasklane serve`, and `tasklane reload`, read the configuration again. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/runtime.js';
import { assertBuilt, runCli, startServe } from './cli-process.js';

const K1 = 'first-admin-key-0001';
const K2 = 'second-admin-key-002';

describe('tasklane serve reloads its configuration', () => {
  const cleanups: Array<() => unknown> = [];
  beforeAll(() => assertBuilt('cli/reload.js'));
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('on SIGHUP and on `tasklane reload`: a replaced key works at once, the old one is 401, a broken file is refused', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const file = join(t.dir, 'tasklane.config.json');
    const write = (key: string) =>
      writeFileSync(file, JSON.stringify({ data: join(t.dir, 'data'), server: { port: 0, apiKeys: [{ key, name: 'ops' }] } }));
    write(K1);
    const serve = await startServe(['--config', file], { cwd: t.dir });
    cleanups.push(() => serve.stop());
    const status = async (key: string) => (await fetch(`${serve.url}/v1/jobs`, { headers: { authorization: `Bearer ${key}` } })).status;
    expect([await status(K1), await status(K2)]).toEqual([200, 401]);

    write(K2);
    serve.child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while ((await status(K2)) !== 200) {
      if (Date.now() > deadline) throw new Error(`SIGHUP did not reload; stderr: ${serve.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await status(K1)).toBe(401);
    expect(serve.stderr()).toMatch(/"via":"SIGHUP".*configuration reloaded|configuration reloaded.*"via":"SIGHUP"/);

    // A broken file: refused with its problems, the server keeps K2.
    writeFileSync(file, JSON.stringify({ server: { port: 'x', nope: true } }));
    const refused = await runCli(['reload', '--url', serve.url, '--key', K2], { cwd: t.dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/reload refused, the running configuration stays: 2 problems/);
    expect(await status(K2)).toBe(200);

    write(K1);
    const ok = await runCli(['reload', '--url', serve.url, '--key', K2], { cwd: t.dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('reloaded: server.apiKeys');
    expect([await status(K1), await status(K2)]).toEqual([200, 401]);
    expect(await serve.stop()).toBe(0);
  }, 60_000);
});
