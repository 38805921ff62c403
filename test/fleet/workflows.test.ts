/**
 * Workflows on a fleet: two server processes on one Redis. A job parked by one process is woken
 * by what another sees — a signal sent over HTTP to the other process, the other process's wake
 * scan after the first was SIGKILLed while the job slept, children finishing on either process —
 * and every step ran once (counted from outside, in a file each step appends to).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/index.js';
import type { JobRecord } from '../../src/jobs/types.js';
import { eventually, startNode, writeConfig, type FleetNode } from '../support/fleet.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../support/redis.js';
import { tempDir } from '../support/runtime.js';

const prefix = testPrefix('fleetwf');
const tmp = tempDir('tasklane-fleet-wf-');
const marks = join(tmp.dir, 'marks');
const nodes: FleetNode[] = [];

async function api<T>(node: FleetNode, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}
const submit = async (node: FleetNode, task: string, input: unknown) => {
  const r = await api<JobRecord>(node, 'POST', '/v1/jobs', { task, input });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
};
const get = async (node: FleetNode, id: string) => (await api<JobRecord>(node, 'GET', `/v1/jobs/${id}`)).body;
const steps = (id: string) =>
  readFileSync(join(marks, `${id}.log`), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[0]);

beforeAll(async () => {
  await requireRedis();
  mkdirSync(marks, { recursive: true });
  const config: ConfigInput = {
    server: { port: 0 },
    log: { level: 'warn' },
    demo: false,
    store: { engine: 'redis', url: REDIS_URL, prefix },
    jobs: { leaseMs: 1_500, pollMs: 50, modules: [fileURLToPath(new URL('./fixtures/workflow-tasks.ts', import.meta.url))] },
    lanes: { wf: { placement: 'loop', concurrency: 4, maxQueue: 100, timeoutMs: 60_000 } },
  };
  const started = await Promise.all(
    ['a', 'b'].map((name) => {
      const data = join(tmp.dir, name);
      mkdirSync(data, { recursive: true });
      return startNode(name, writeConfig(tmp.dir, name, { ...config, data }));
    }),
  );
  nodes.push(...started);
}, 90_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop('SIGTERM')));
  await deleteKeys(prefix);
  tmp.remove();
}, 60_000);

describe('workflows on two processes sharing one Redis', () => {
  it('a job waiting for a signal resumes when the signal is sent to the other process', async () => {
    const [a, b] = nodes as [FleetNode, FleetNode];
    const job = await submit(a, 'wf.approve', { dir: marks });
    await eventually('the job waits for its signal', async () => (await get(b, job.id)).state === 'waiting', 20_000, 50);
    expect((await get(b, job.id)).waitingFor).toMatchObject({ kind: 'signal', name: 'go' });
    const sent = await api<JobRecord>(b, 'POST', `/v1/jobs/${job.id}/signals/go`, { from: 'b' });
    expect(sent.status).toBeLessThan(300);
    await eventually('the job succeeded', async () => (await get(a, job.id)).state === 'succeeded', 20_000, 50);
    const done = await get(a, job.id);
    expect(done.result).toMatchObject({ payload: { from: 'b' } });
    // The step before the wait ran once, though the job was claimed again to resume.
    expect(steps(job.id)).toEqual(['before', 'after']);
    // A finished job refuses signals.
    expect((await api(a, 'POST', `/v1/jobs/${job.id}/signals/go`, {})).status).toBe(409);
  }, 60_000);

  it('a job sleeping on a process that is SIGKILLed wakes on the other one; the step before the sleep is not run again', async () => {
    const [a, b] = nodes as [FleetNode, FleetNode];
    const job = await submit(a, 'wf.sleepy', { dir: marks, ms: 1_500 });
    await eventually('the job sleeps', async () => (await get(b, job.id)).state === 'waiting', 20_000, 50);
    const sleeper = await get(b, job.id);
    expect(sleeper.waitingFor).toMatchObject({ kind: 'sleep' });
    await a.stop('SIGKILL');
    try {
      await eventually('the other process woke and finished it', async () => (await get(b, job.id)).state === 'succeeded', 20_000, 50);
      const done = await get(b, job.id);
      expect(done.workerId).toBe(b.workerId);
      expect(Date.now()).toBeGreaterThanOrEqual((sleeper.waitingFor as { until: number }).until);
      expect(steps(job.id)).toEqual(['before', 'after']);
      expect((done.result as { after: number }).after).toBe(b.proc.pid);
    } finally {
      await a.restart();
    }
  }, 60_000);

  it('a parent joins children that run on both processes, woken by whichever finishes last', async () => {
    const [a, b] = nodes as [FleetNode, FleetNode];
    const job = await submit(b, 'wf.fanout', { dir: marks, n: 12 });
    await eventually('the parent succeeded', async () => (await get(a, job.id)).state === 'succeeded', 30_000, 50);
    const done = await get(a, job.id);
    expect((done.result as { sum: number }).sum).toBe(66);
    const children = (await api<{ jobs: JobRecord[] }>(a, 'GET', '/v1/jobs?task=wf.child&limit=100')).body.jobs.filter(
      (c) => c.parentId === job.id,
    );
    expect(children).toHaveLength(12);
    for (const c of children) expect(steps(c.id)).toEqual(['child']);
  }, 60_000);
});
