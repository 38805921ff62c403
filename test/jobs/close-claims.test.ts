/**
 * Closing a worker while its claims are in flight (issue 22 point 6): a claim that returns after
 * close() began is handed back (queued again, attempt not counted), never started, so close()
 * ends and leaves no job running under the closed worker. Many closes at random moments, on both
 * engines, with the queue never empty so a claim is nearly always under way.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/index.js';
import { defineTask } from '../../src/jobs/task.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../support/redis.js';
import { tempDir } from '../support/runtime.js';
import { jobsRuntime } from './helpers.js';

const prefix = testPrefix('close-claims');
const tmp = tempDir('tasklane-close-claims-');
const engines: Array<[string, ConfigInput['store']]> = [
  ['sqlite', { engine: 'sqlite', path: join(tmp.dir, 'jobs.db') }],
  ['redis', { engine: 'redis', url: REDIS_URL, prefix }],
];

describe.each(engines)('close with claims in flight (%s)', (name, store) => {
  beforeAll(async () => {
    if (name === 'redis') await requireRedis();
  });
  afterAll(async () => {
    if (name === 'redis') await deleteKeys(prefix);
    else tmp.remove();
  });

  it('a claim that returns after close() began is handed back, never started', async () => {
    const api = await jobsRuntime({ store, jobs: { worker: false } });
    const task = `close.race.${name}`;
    const register = (rt: typeof api.runtime, onRun: () => void) =>
      rt.jobs.register(
        defineTask({
          name: task,
          lane: 'jobs',
          async run(input: number) {
            onRun();
            await new Promise((r) => setTimeout(r, 3));
            return input;
          },
        }),
      );
    register(api.runtime, () => {});
    const ids: string[] = [];
    let runsAfterClose = 0;
    try {
      for (let round = 0; round < 15; round++) {
        for (let i = 0; i < 12; i++) ids.push((await api.runtime.jobs.enqueue(task, i)).id);
        const w = await jobsRuntime({ store, jobs: { pollMs: 5 } });
        let closed = false;
        register(w.runtime, () => {
          if (closed) runsAfterClose++;
        });
        const workerId = w.runtime.jobs.workerId;
        // Let it claim and run for a moment, then close in the middle of whatever it is doing.
        await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 25)));
        const closing = w.close();
        const bounded = await Promise.race([closing.then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 15_000))]);
        expect(bounded).toBe('closed');
        closed = true;
        const running = (await api.runtime.jobs.list({ state: 'running', limit: 500 })).jobs;
        expect(running.filter((j) => j.workerId === workerId).map((j) => j.id)).toEqual([]);
      }
      // Nothing is lost: a last worker drains what the closed ones handed back.
      const drain = await jobsRuntime({ store, jobs: { pollMs: 5 } });
      register(drain.runtime, () => {});
      try {
        const until = Date.now() + 20_000;
        for (;;) {
          const states = await Promise.all(ids.map((id) => api.runtime.jobs.get(id).then((j) => j?.state)));
          if (states.every((s) => s === 'succeeded')) break;
          if (Date.now() > until) throw new Error(`not all jobs succeeded: ${JSON.stringify(states.filter((s) => s !== 'succeeded'))}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        await drain.close();
      }
      await new Promise((r) => setTimeout(r, 50));
      expect(runsAfterClose).toBe(0);
    } finally {
      await api.close();
    }
  }, 90_000);
});
