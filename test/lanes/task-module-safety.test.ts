/**
 * Issue #16, point 1: a task module that starts a runtime when a worker thread imports it is
 * refused (TL_ERR_TASK_MODULE_SIDE_EFFECT) and the job fails with that message; a thread that can
 * not load its task module fails the attempt within the lane's timeout; enqueue() before start()
 * warns once. The entry-script cases run as real processes on the built package, as a user runs
 * them; the others in real worker threads of an in-process runtime.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jobsRuntime, waitFor } from '../jobs/helpers.js';
import { assertBuilt } from '../cli/cli-process.js';
import { tempDir, type TestRuntime } from '../support/runtime.js';
import { fixture, rejection } from './helpers.js';

const ENTRY = fileURLToPath(new URL('../fixtures/entry/', import.meta.url));

function runEntry(name: string, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const tmp = tempDir();
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${ENTRY}${name}.mjs`], {
      cwd: tmp.dir,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      tmp.remove();
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

function lastJson(stdout: string): any {
  const line = stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (!line) throw new Error(`no JSON line in stdout: ${stdout}`);
  return JSON.parse(line);
}

describe('an entry script that defines a thread-lane task and starts the runtime (real processes, dist/)', () => {
  beforeAll(() => assertBuilt('index.js'));

  it('starts one server, and the job fails at once with TL_ERR_TASK_MODULE_SIDE_EFFECT, although the script waits in a top-level await', async () => {
    const r = await runEntry('one-file');
    expect(r.code, r.stderr).toBe(0);
    // One runtime: the threads that imported the script were refused before they listened.
    expect(r.stdout.match(/^listening /gm)).toHaveLength(1);
    const out = lastJson(r.stdout);
    expect(out.state).toBe('dead');
    expect(out.attempt).toBe(1);
    expect(out.error.code).toBe('TL_ERR_TASK_MODULE_SIDE_EFFECT');
    expect(out.error.message).toContain('thread lane "data"');
    expect(out.error.message).toContain('task "double"');
    expect(out.error.message).toMatch(/move createRuntime\(\)\/listen\(\) out of/);
    // It ended, and not by the task's 5 s timeout (the code above says so); before the fix it never
    // ended. The bound is loose on purpose: a loaded machine starts threads slowly.
    expect(out.ms).toBeLessThan(20_000);
    // The dead job is logged once at warn, with task, id, attempts and the code.
    const dead = r.stderr
      .split('\n')
      .filter((l) => l.includes('is dead after'))
      .map((l) => JSON.parse(l));
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ level: 40, task: 'double', attempts: 1, code: 'TL_ERR_TASK_MODULE_SIDE_EFFECT' });
  });

  it('runs the task when the script guards its start with isMainThread', async () => {
    const r = await runEntry('guarded');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/^listening /gm)).toHaveLength(1);
    expect(lastJson(r.stdout)).toMatchObject({ state: 'succeeded', result: 42 });
  });

  it('a thread stuck loading the task module fails the attempt within the lane timeout', async () => {
    const r = await runEntry('slow-load');
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r.stdout);
    expect(out).toMatchObject({ state: 'dead', attempt: 1, error: { code: 'TL_ERR_LANE_TIMEOUT' } });
    expect(out.ms).toBeGreaterThanOrEqual(1_400);
    expect(out.ms).toBeLessThan(10_000);
  });

  it('enqueue() on a runtime never started warns once; the job runs once start() is called', async () => {
    const r = await runEntry('never-started');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['queued', 'succeeded']);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('never started'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, task: 'hello' });
    expect(warnings[0]).toContain('runtime.start()');
  });
});

describe('createRuntime() inside a lane worker thread (in-process runtime, real threads)', () => {
  let t: TestRuntime | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('is refused even when the task module swallows the rejection, and the job is dead after one attempt', async () => {
    t = await jobsRuntime();
    const { sneaky } = await import('../fixtures/tasks/starts-runtime.js');
    t.runtime.jobs.register(sneaky);
    const job = await t.runtime.jobs.enqueue('sneaky', {}, { maxAttempts: 3 });
    const done = await waitFor(t.runtime, job.id, ['dead', 'succeeded'], 30_000);
    expect(done.state).toBe('dead');
    expect(done.attempt).toBe(1);
    expect(done.error).toMatchObject({ code: 'TL_ERR_TASK_MODULE_SIDE_EFFECT' });
    expect(done.error!.message).toContain('task "sneaky"');
  });

  it('is refused when a work function calls it while running in a thread', async () => {
    t = await jobsRuntime();
    const err = await rejection(t.runtime.lanes.run('data', fixture('starts-runtime'), null));
    expect(err.code).toBe('TL_ERR_TASK_MODULE_SIDE_EFFECT');
    expect(err.message).toContain('lane "data"');
    expect(err.retryable).toBe(false);
  });
});
