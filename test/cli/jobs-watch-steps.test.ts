/**
 * `tasklane jobs submit --watch` / `jobs watch` on a workflow, as a user runs it: the built CLI
 * against a real `tasklane serve`. Steps are printed as they complete (seen while the job still
 * waits for its signal), and so are the wait, the wake-up and the child jobs.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/runtime.js';
import { BIN, ROOT, assertBuilt, runCli, startServe, type ServeProcess } from './cli-process.js';

const KEY = 'cli-watch-steps-key-1';

describe('tasklane jobs watch on a workflow', () => {
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
export const page = defineTask({ name: 'page', lane: 'ai', maxAttempts: 1, run: (input) => ({ page: input.n }) }, import.meta.url);
export const flow = defineTask({
  name: 'flow',
  lane: 'ai',
  maxAttempts: 1,
  run: async (_input, ctx) => {
    await ctx.step('fetch', async () => { await new Promise((r) => setTimeout(r, 120)); return 1; });
    const go = await ctx.waitForSignal('go', { timeoutMs: 60000 });
    await ctx.step('parse', () => 2);
    await ctx.step('parse', () => 3);
    const kids = [await ctx.spawn(page, { n: 1 }), await ctx.spawn(page, { n: 2 })];
    const ended = await ctx.join(kids);
    return { go, pages: ended.map((e) => e.state) };
  },
}, import.meta.url);
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

  it('prints each step as it completes, the wait and the wake-up, the children, then the result', async () => {
    const watch = spawn(process.execPath, [BIN, 'jobs', 'submit', 'flow', '--watch'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    watch.stdout.on('data', (d: Buffer) => (stdout += d));
    watch.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => watch.on('exit', (code) => resolve(code)));
    const killer = setTimeout(() => watch.kill('SIGKILL'), 40_000);
    try {
      const seen = async (text: string) => {
        const end = Date.now() + 20_000;
        while (!stderr.includes(text)) {
          if (Date.now() > end) throw new Error(`never printed ${JSON.stringify(text)}; stderr so far:\n${stderr}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      // The first step's line is out while the job is still parked on its signal: printed as it completed.
      await seen('waiting for signal "go"');
      expect(stderr).toMatch(/\[\d+\.\ds\] ✓ step "fetch" completed in (\d+ ms|\d+\.\ds)/);
      expect(stderr).not.toContain('"parse"');
      const id = /^job (\S+) \(flow\)$/m.exec(stderr)![1]!;
      expect(JSON.parse((await runCli(['jobs', 'get', id], { env })).stdout)).toMatchObject({
        state: 'waiting',
        waitingFor: { kind: 'signal', name: 'go' },
        steps: [{ name: 'fetch', state: 'completed' }],
      });
      expect((await runCli(['jobs', 'signal', id, 'go', '"now"'], { env })).code).toBe(0);
      expect(await exited).toBe(0);
      if (process.env.SHOW_CLI) process.stdout.write(stderr);
      const lines = stderr.split('\n');
      const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
      const order = [
        /step "fetch" started/,
        /✓ step "fetch" completed in/,
        /waiting for signal "go"/,
        /woke on signal "go"/,
        /✓ step "parse" completed in/,
        /✓ step "parse" #2 completed in/,
        /child \S+ \(page\) started/,
        /✓ job \S+ succeeded in/,
      ].map(at);
      // The children may end before the parent parks on them: both lines are there, in either order.
      expect(at(/waiting for 2 child jobs/)).toBeGreaterThan(order[6]!);
      expect(lines.filter((l) => /child \S+ \(page\) succeeded/.test(l))).toHaveLength(2);
      expect(
        order.every((i) => i >= 0),
        stderr,
      ).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      // Not a TTY: no colour codes, no redraws.
      expect(stderr).not.toMatch(/\x1b\[/);
      expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ go: 'now', pages: ['succeeded', 'succeeded'] });

      // Watching it again replays the same lines from the stored events.
      const again = await runCli(['jobs', 'watch', id], { env });
      expect(again.code).toBe(0);
      expect(again.stderr).toMatch(/✓ step "fetch" completed in (\d+ ms|\d+\.\ds)/);
      expect(again.stderr).toMatch(/✓ step "parse" completed in/);
    } finally {
      clearTimeout(killer);
      watch.kill('SIGKILL');
    }
  }, 60_000);
});
