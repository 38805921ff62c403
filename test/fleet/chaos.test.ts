/**
 * Bounded chaos on one Redis: 1,000 jobs while fleet processes are SIGKILLed at random and
 * restarted. Every job must end in a final state, none lost, each stream whole, and every re-run
 * visible (a new attempt with its own `started` event; only the last attempt's finish counts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/index.js';
import type { JobRecord } from '../../src/jobs/types.js';
import { eventually, startNode, writeConfig, type FleetNode } from '../support/fleet.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../support/redis.js';
import { testRuntime, tempDir, type TestRuntime } from '../support/runtime.js';

const JOBS = 1_000;
const MAX_KILLS = 6;
const prefix = testPrefix('chaos');
const tmp = tempDir('tasklane-chaos-');
const store: ConfigInput['store'] = { engine: 'redis', url: REDIS_URL, prefix };
const nodes: FleetNode[] = [];
let api: TestRuntime;

beforeAll(async () => {
  await requireRedis();
  const config: ConfigInput = {
    server: { port: 0 },
    log: { level: 'warn' },
    store,
    // Short leases so a killed process's jobs come back quickly; attempts to spare so all succeed.
    jobs: { leaseMs: 1_000, pollMs: 50, maxAttempts: 20 },
    lanes: { demo: { placement: 'loop', concurrency: 8, maxQueue: 100, timeoutMs: 60_000 } },
  };
  const started = await Promise.all(
    ['a', 'b', 'c'].map((name) => {
      const data = join(tmp.dir, name);
      mkdirSync(data, { recursive: true });
      return startNode(name, writeConfig(tmp.dir, name, { ...config, data }));
    }),
  );
  nodes.push(...started);
  api = await testRuntime({ store, jobs: { worker: false } });
  await api.runtime.start();
}, 90_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  await api?.close();
  await deleteKeys(prefix);
  tmp.remove();
}, 60_000);

async function all(state?: JobRecord['state']): Promise<JobRecord[]> {
  const out: JobRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.runtime.jobs.list({
      task: 'demo.progress',
      limit: 500,
      ...(state ? { state } : {}),
      ...(cursor ? { cursor } : {}),
    });
    out.push(...page.jobs);
    cursor = page.next;
  } while (cursor);
  return out;
}

describe('chaos: 1,000 jobs while processes are killed and restarted', () => {
  it('every job ends in a final state; none lost; re-runs are visible by attempt', async () => {
    const t0 = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, JOBS - i) }, () => api.runtime.jobs.enqueue('demo.progress', { steps: 4, ms: 40 })),
      );
      ids.push(...batch.map((j) => j.id));
    }
    let kills = 0;
    const killed: string[] = [];
    while (kills < MAX_KILLS && Date.now() - t0 < 40_000) {
      await new Promise((r) => setTimeout(r, 400 + Math.random() * 800));
      if ((await all('succeeded')).length >= JOBS * 0.9) break;
      const victim = nodes[Math.floor(Math.random() * nodes.length)]!;
      await victim.stop('SIGKILL');
      killed.push(victim.workerId);
      kills++;
      await victim.restart();
    }
    await eventually(
      'every job is final',
      async () => (await all()).every((j) => ['succeeded', 'dead', 'cancelled'].includes(j.state)),
      60_000,
      250,
    );

    const jobs = await all();
    expect(jobs.length).toBe(JOBS);
    expect(new Set(jobs.map((j) => j.id))).toEqual(new Set(ids));
    expect(jobs.filter((j) => j.state !== 'succeeded').map((j) => `${j.id}:${j.state}:${j.error?.message}`)).toEqual([]);
    expect(kills).toBeGreaterThan(0);

    let rerun = 0;
    for (const job of jobs) {
      const events = await api.runtime.jobs.engine.readEvents(job.id, 0);
      // Whole stream: seqs 1..lastSeq, one terminal event, last.
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: job.lastSeq }, (_, i) => i + 1));
      expect(events.filter((e) => ['succeeded', 'dead', 'cancelled'].includes(e.type)).length).toBe(1);
      expect(events.at(-1)!.type).toBe('succeeded');
      // One `started` per attempt, in order; the result belongs to the last attempt.
      const starts = events.filter((e) => e.type === 'started').map((e) => e.attempt);
      expect(starts).toEqual(Array.from({ length: job.attempt }, (_, i) => i + 1));
      expect(events.at(-1)!.attempt).toBe(job.attempt);
      expect(job.result).toEqual({ steps: 4 });
      if (job.attempt > 1) {
        rerun++;
        // A re-run follows a lost lease (a killed process) or a release (a graceful stop).
        expect(events.some((e) => e.type === 'retrying')).toBe(true);
      }
    }
    // Killing processes mid-run must have forced some re-runs, detectable by attempt.
    expect(rerun).toBeGreaterThan(0);
    expect(Date.now() - t0).toBeLessThan(120_000);
  }, 150_000);
});
