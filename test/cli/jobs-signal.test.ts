/**
 * `tasklane jobs signal <id> <name> [JSON]` as a user runs it: the built CLI against a real
 * `tasklane serve` whose task waits for a signal.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/runtime.js';
import { ROOT, assertBuilt, runCli, startServe, type ServeProcess } from './cli-process.js';

const KEY = 'cli-signal-key-1';

describe('tasklane jobs signal', () => {
  let serve: ServeProcess;
  let tmp: { dir: string; remove(): void };
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    assertBuilt('cli/jobs.js');
    tmp = tempDir();
    const tasks = join(tmp.dir, 'tasks.mjs');
    writeFileSync(
      tasks,
      `import { defineTask } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/index.js')).href)};
export const gate = defineTask({ name: 'gate', lane: 'ai', maxAttempts: 1, run: (_input, ctx) => ctx.waitForSignal('go') }, import.meta.url);
`,
    );
    const config = join(tmp.dir, 'tasklane.config.json');
    writeFileSync(config, JSON.stringify({ server: { apiKeys: [KEY] }, jobs: { pollMs: 50, modules: [tasks] } }));
    serve = await startServe(['--port', '0', '--data', join(tmp.dir, 'data'), '--config', config], { cwd: tmp.dir });
    env = { TASKLANE_URL: serve.url, TASKLANE_API_KEY: KEY };
  });
  afterAll(async () => {
    await serve?.stop();
    tmp?.remove();
  });

  const state = async (id: string) => JSON.parse((await runCli(['jobs', 'get', id], { env })).stdout).state as string;
  async function until(id: string, want: string): Promise<void> {
    const end = Date.now() + 20_000;
    while ((await state(id)) !== want) {
      if (Date.now() > end) throw new Error(`job ${id} never became ${want}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('wakes a waiting job with a JSON payload; a finished job answers 409 (exit 1); bad JSON is a usage error (exit 2)', async () => {
    const submitted = await runCli(['jobs', 'submit', 'gate'], { env });
    expect(submitted.code).toBe(0);
    const id = submitted.stdout.trim();
    await until(id, 'waiting');
    const list = await runCli(['jobs', 'list', '--state', 'waiting', '--json'], { env });
    expect(JSON.parse(list.stdout).jobs.map((j: { id: string }) => j.id)).toContain(id);
    const bad = await runCli(['jobs', 'signal', id, 'go', '{not json'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('the payload must be JSON');
    const sent = await runCli(['jobs', 'signal', id, 'go', '{"approved":true}'], { env });
    expect(sent.code).toBe(0);
    expect(sent.stdout.trim()).toBe('queued');
    expect(sent.stderr).toContain('woke on signal "go"');
    const watched = await runCli(['jobs', 'watch', id], { env });
    expect(watched.code).toBe(0);
    expect(watched.stdout.trim().split('\n').at(-1)).toBe('{"approved":true}');
    const late = await runCli(['jobs', 'signal', id, 'go'], { env });
    expect(late.code).toBe(1);
    expect(late.stderr).toContain('TL_ERR_JOB_STATE');
    const missing = await runCli(['jobs', 'signal', id], { env });
    expect(missing.code).toBe(2);
  });
});
