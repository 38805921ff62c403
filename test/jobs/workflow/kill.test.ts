/**
 * Workflows across real process deaths, on one SQLite file: a worker SIGKILLed in the middle of a
 * step's third AI call, another that takes over and pays only for that call (counted by the mock
 * provider itself); a job parked on time or on a signal when its worker dies, woken and finished
 * by a fresh process; a frozen worker whose late step write is refused by the fencing token.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { JobEvent } from '../../../src/jobs/types.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testRuntime, type TestRuntime } from '../../support/runtime.js';
import { waitFor } from '../helpers.js';

const PROCESS = fileURLToPath(new URL('../../fixtures/workflow-process.ts', import.meta.url));
const WF_TASKS = fileURLToPath(new URL('../../fixtures/jobs/workflow-tasks.ts', import.meta.url));

const children: ChildProcess[] = [];
let api: TestRuntime | undefined;
let mock: MockProvider;
const holds = new AbortController();

beforeAll(async () => {
  mock = await startMockProvider();
});
afterAll(async () => {
  holds.abort();
  await mock.close();
});
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
  mock.reset();
});

async function startWorker(data: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', PROCESS], {
    env: { ...process.env, TL_DATA: data, TL_MOCK_URL: mock.url, TL_LEASE_MS: '1000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
    if (process.env.WF_DEBUG) process.stderr.write(d);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start in 30 s: ${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready ')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready: ${err}`)));
  });
}

const kill = async (c: ChildProcess) => {
  c.kill('SIGKILL');
  if (c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once('exit', r));
};

/** An enqueue-only runtime on a fresh data folder (no worker: the processes do the work). */
async function apiRuntime(): Promise<TestRuntime> {
  api = await testRuntime({
    lanes: { jobs: { placement: 'loop', concurrency: 1 }, data: { concurrency: 1 } },
    jobs: { worker: false, pollMs: 50, modules: [WF_TASKS] },
  });
  await api.runtime.start();
  return api;
}

const prompt = (c: { body: any }) => c.body.messages.at(-1).content as string;
const events = (t: TestRuntime, id: string): Promise<JobEvent[]> => t.runtime.jobs.engine.readEvents(id, 0);

it('a worker SIGKILLed during a step’s third AI call: the next process replays the first two answers and pays only for the third', async () => {
  const { runtime, dir } = await apiRuntime();
  // The first B3 call is held: the worker dies while waiting for its answer. (The mock logs a
  // call once its responder returns, so the hold is released after the kill.)
  let arrived!: () => void;
  const b3 = new Promise<void>((r) => (arrived = r));
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  holds.signal.addEventListener('abort', () => release(), { once: true });
  let held = false;
  mock.respond(async (call) => {
    if (prompt(call) === 'k1 B3' && !held) {
      held = true;
      arrived();
      await hold;
    }
    return undefined;
  });
  const a = await startWorker(dir);
  const job = await runtime.jobs.enqueue('wf.pipeline', { tag: 'k1' });
  await Promise.race([b3, new Promise((_, reject) => setTimeout(() => reject(new Error('the third call of step b never came')), 20_000))]);
  await kill(a);
  expect(mock.calls.map(prompt)).toEqual(['k1 A', 'k1 B1', 'k1 B2']);
  release();
  await startWorker(dir);
  const end = await waitFor(runtime, job.id, ['succeeded', 'dead'], 30_000);
  expect(end).toMatchObject({ state: 'succeeded', attempt: 2 });
  expect(end.result).toEqual({ a: 'echo: k1 A', b: ['echo: k1 B1', 'echo: k1 B2', 'echo: k1 B3'], c: 'echo: k1 C' });
  // The mock's own log: step a and the first two calls of step b were never made again.
  const count = (p: string) => mock.calls.filter((c) => prompt(c) === p).length;
  expect([count('k1 A'), count('k1 B1'), count('k1 B2'), count('k1 B3'), count('k1 C')]).toEqual([1, 1, 1, 2, 1]);
  const ev = await events(api!, job.id);
  const steps = ev.filter((e) => e.type.startsWith('step.')).map((e) => [e.attempt, e.type, (e.data as { name: string }).name]);
  // The killed attempt's events still in its write buffer died with it: what it stored is a
  // prefix of what it emitted. The journal, not the events, decides what is replayed.
  const first = steps.filter((s) => s[0] === 1);
  expect(first).toEqual(
    [
      [1, 'step.started', 'a'],
      [1, 'step.completed', 'a'],
      [1, 'step.started', 'b'],
    ].slice(0, first.length),
  );
  expect(steps.slice(first.length)).toEqual([
    [2, 'step.replayed', 'a'],
    [2, 'step.started', 'b'],
    [2, 'step.completed', 'b'],
    [2, 'step.started', 'c'],
    [2, 'step.completed', 'c'],
  ]);
});

it('a job parked on time survives its worker’s death: a fresh process wakes it when due and runs only what is left', async () => {
  const { runtime, dir } = await apiRuntime();
  const a = await startWorker(dir);
  const job = await runtime.jobs.enqueue('wf.sleepy', { ms: 1_500 });
  expect((await waitFor(runtime, job.id, ['waiting'], 20_000)).waitingFor).toMatchObject({ kind: 'sleep' });
  await kill(a);
  await startWorker(dir);
  const end = await waitFor(runtime, job.id, ['succeeded', 'dead'], 30_000);
  expect(end.state).toBe('succeeded');
  const { before, after } = end.result as { before: number; after: number };
  expect(after - before).toBeGreaterThanOrEqual(1_500);
  const types = (await events(api!, job.id)).map((e) =>
    e.type.startsWith('step.') ? `${e.type}:${(e.data as { name: string }).name}` : e.type,
  );
  expect(types).toEqual([
    'enqueued',
    'started',
    'step.started:before',
    'step.completed:before',
    'waiting',
    'woken',
    'started',
    'step.replayed:before',
    'step.started:after',
    'step.completed:after',
    'succeeded',
  ]);
});

it('a job waiting for a signal survives its worker’s death: the signal sent meanwhile wakes it in a fresh process', async () => {
  const { runtime, dir } = await apiRuntime();
  const a = await startWorker(dir);
  const job = await runtime.jobs.enqueue('wf.approval', {});
  await waitFor(runtime, job.id, ['waiting'], 20_000);
  await kill(a);
  // No worker runs now: the signal is stored and the job queued, waiting for one.
  expect((await runtime.jobs.signal(job.id, 'approve', { by: 'reviewer' })).state).toBe('queued');
  await startWorker(dir);
  const end = await waitFor(runtime, job.id, ['succeeded', 'dead'], 30_000);
  expect(end).toMatchObject({ state: 'succeeded', result: { first: { by: 'reviewer' } } });
  const drafts = (await events(api!, job.id)).filter((e) => e.type === 'step.completed');
  expect(drafts).toHaveLength(1);
});

it('a frozen worker’s late step write is refused: the step result is the one the attempt holding the lease wrote', async () => {
  const { runtime, dir } = await apiRuntime();
  const a = await startWorker(dir);
  const job = await runtime.jobs.enqueue('wf.slow-step', { ms: 1_500 });
  const until = Date.now() + 20_000;
  while (!(await events(api!, job.id)).some((e) => e.type === 'step.started')) {
    if (Date.now() > until) throw new Error('the step never started');
    await new Promise((r) => setTimeout(r, 25));
  }
  // Frozen mid-step: its lease runs out and another process takes the job.
  a.kill('SIGSTOP');
  const b = await startWorker(dir);
  const end = Date.now() + 20_000;
  while (!(await events(api!, job.id)).some((e) => e.type === 'started' && e.attempt === 2)) {
    if (Date.now() > end) throw new Error('no second attempt started');
    await new Promise((r) => setTimeout(r, 25));
  }
  // The frozen worker wakes with its step done and tries to store it: refused.
  a.kill('SIGCONT');
  const done = await waitFor(runtime, job.id, ['succeeded', 'dead'], 30_000);
  expect(done).toMatchObject({ state: 'succeeded', attempt: 2, result: { attempt: 2, pid: b.pid } });
  const journal = await runtime.jobs.engine.readJournal!(job.id);
  expect(journal).toHaveLength(1);
  expect(journal[0]).toMatchObject({ key: 'step:slow#0', status: 'completed', result: { attempt: 2, pid: b.pid } });
  const completed = (await events(api!, job.id)).filter((e) => e.type === 'step.completed');
  expect(completed.map((e) => e.attempt)).toEqual([2]);
});
