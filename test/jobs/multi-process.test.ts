/**
 * Real processes sharing one SQLite file: a worker is killed (or frozen) mid-job, another
 * recovers it after the lease expires; cancels and events cross process boundaries.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import type { JobEvent } from '../../src/jobs/types.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { collect, expectConsecutive, waitFor } from './helpers.js';

const WORKER = fileURLToPath(new URL('../fixtures/worker-process.ts', import.meta.url));

interface Worker {
  child: ChildProcess;
  out: string[];
  id: string;
}

const children: ChildProcess[] = [];
let api: TestRuntime | undefined;

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }
  }
  await api?.close();
  api = undefined;
});

async function startWorker(data: string, env: Record<string, string> = {}): Promise<Worker> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    env: { ...process.env, TL_DATA: data, TL_LEASE_MS: '1000', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const out: string[] = [];
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start in 30 s: ${err}`)), 30_000);
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        out.push(line);
        if (line.startsWith('ready ')) {
          clearTimeout(timer);
          resolve({ child, out, id: line.slice(6) });
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready: ${err}`)));
  });
}

/** An API-only runtime (no worker) on the same data folder. */
async function apiRuntime(): Promise<TestRuntime> {
  api = await testRuntime({
    lanes: { jobs: { placement: 'loop', concurrency: 1 } },
    jobs: { worker: false, pollMs: 50, modules: [fileURLToPath(new URL('../fixtures/jobs/tasks.ts', import.meta.url))] },
  });
  await api.runtime.start();
  return api;
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

it('a SIGKILLed worker’s job is recovered by another process and succeeds once; the stream shows both attempts', async () => {
  const { runtime, dir } = await apiRuntime();
  const a = await startWorker(dir);
  const job = await runtime.jobs.enqueue('test.sleep', { ms: 1_500 }, { maxAttempts: 3 });
  const seen: JobEvent[] = [];
  const stream = (async () => {
    for await (const e of runtime.jobs.subscribe(job.id, 0, { signal: AbortSignal.timeout(40_000) })) seen.push(e);
  })();
  // Events written by the worker process reach this process's subscriber.
  await until('progress from the first worker', () => seen.some((e) => e.type === 'progress'));
  a.child.kill('SIGKILL');
  await new Promise((r) => a.child.once('exit', r));
  const b = await startWorker(dir);
  await stream;
  expectConsecutive(seen);
  const types = seen.map((e) => e.type);
  expect(types.filter((x) => x === 'started')).toHaveLength(2);
  expect(types.filter((x) => x === 'succeeded')).toHaveLength(1);
  const retry = seen.find((e) => e.type === 'retrying')!;
  expect(retry.data).toMatchObject({ error: { code: 'TL_ERR_JOB_LEASE_LOST' } });
  const starts = seen.filter((e) => e.type === 'started');
  expect(starts.map((e) => (e.data as { workerId: string }).workerId)).toEqual([a.id, b.id]);
  expect(await runtime.jobs.get(job.id)).toMatchObject({ state: 'succeeded', attempt: 2, result: { attempt: 2 }, workerId: b.id });
  // Replay from the store gives exactly what the live subscriber saw.
  expect(await collect(runtime, job.id)).toEqual(seen);
}, 60_000);

it('a frozen worker’s stale attempt cannot finish after another process took the job', async () => {
  const { runtime, dir } = await apiRuntime();
  const a = await startWorker(dir);
  const job = await runtime.jobs.enqueue('test.sleep', { ms: 1_200 }, { maxAttempts: 3 });
  await waitFor(runtime, job.id, ['running']);
  await until('first progress', async () => ((await runtime.jobs.get(job.id))?.lastSeq ?? 0) >= 3);
  a.child.kill('SIGSTOP');
  const b = await startWorker(dir);
  const done = await waitFor(runtime, job.id, ['succeeded'], 30_000);
  expect(done).toMatchObject({ attempt: 2, workerId: b.id, result: { attempt: 2 } });
  const before = await runtime.jobs.engine.readEvents(job.id, 0);
  a.child.kill('SIGCONT');
  // The stale attempt learns it lost the lease (renew or event write refused) and stops.
  await until('the stale worker to notice', () => a.out.some((l) => l.includes('lease') && l.includes(job.id)), 15_000);
  await new Promise((r) => setTimeout(r, 300));
  expect(await runtime.jobs.get(job.id)).toMatchObject({ state: 'succeeded', attempt: 2, result: { attempt: 2 } });
  expect(await runtime.jobs.engine.readEvents(job.id, 0)).toEqual(before);
  expect(before.filter((e) => e.type === 'succeeded')).toHaveLength(1);
}, 60_000);

it('a cancel from another process aborts the job where it runs', async () => {
  const { runtime, dir } = await apiRuntime();
  await startWorker(dir);
  const job = await runtime.jobs.enqueue('test.wait-for-cancel', {});
  const stream = collect(runtime, job.id, 0, 30_000);
  await waitFor(runtime, job.id, ['running']);
  const asked = Date.now();
  expect((await runtime.jobs.cancel(job.id)).state).toBe('running');
  const events = await stream;
  expect(Date.now() - asked).toBeLessThan(5_000);
  expect(events.map((e) => e.type)).toEqual(['enqueued', 'started', 'progress', 'cancel-requested', 'cancelled']);
}, 60_000);

it('restart with jobs queued and running loses nothing: running ones are given back without burning an attempt', async () => {
  const { runtime, dir } = await apiRuntime();
  const a = await startWorker(dir, { TL_CONCURRENCY: '2', TL_CLOSE_MS: '600' });
  const jobs = [];
  for (let i = 0; i < 6; i++) jobs.push(await runtime.jobs.enqueue('test.sleep', { ms: 1_500, label: `j${i}` }, { maxAttempts: 1 }));
  await until('two running', async () => (await runtime.jobs.list({ state: 'running' })).jobs.length === 2);
  a.child.kill('SIGTERM');
  const code = await new Promise((r) => a.child.once('exit', r));
  expect(code).toBe(0);
  const states = (await Promise.all(jobs.map((j) => runtime.jobs.get(j.id)))).map((j) => j!.state);
  expect(states.every((s) => s === 'queued')).toBe(true);
  await startWorker(dir, { TL_CONCURRENCY: '6' });
  for (const j of jobs) {
    const done = await waitFor(runtime, j.id, ['succeeded'], 30_000);
    // maxAttempts 1: a burned attempt would have made it dead.
    expect(done.attempt).toBe(1);
    const events = await runtime.jobs.engine.readEvents(j.id, 0);
    expectConsecutive(events);
    expect(events.filter((e) => e.type === 'succeeded')).toHaveLength(1);
  }
  const released = await Promise.all(
    jobs.map(async (j) =>
      (await runtime.jobs.engine.readEvents(j.id, 0)).some((e) => e.type === 'retrying' && (e.data as { released?: boolean }).released),
    ),
  );
  expect(released.filter(Boolean)).toHaveLength(2);
}, 90_000);
