/**
 * A task that emits more progress than may wait to be stored (10,000 events per attempt) in one
 * synchronous run, with a healthy store: the stream says so with `progress.coalesced` `{ count }`
 * right before the latest value, so a subscriber sees every value or knows how many it missed
 * (issue 22 point 5). Both engines.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/index.js';
import { defineTask } from '../../src/jobs/task.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../support/redis.js';
import { tempDir } from '../support/runtime.js';
import { collect, expectConsecutive, jobsRuntime } from './helpers.js';

const prefix = testPrefix('progress-cap');
const tmp = tempDir('tasklane-progress-cap-');
const engines: Array<[string, ConfigInput['store']]> = [
  ['sqlite', { engine: 'sqlite', path: join(tmp.dir, 'jobs.db') }],
  ['redis', { engine: 'redis', url: REDIS_URL, prefix }],
];
const EMITTED = 12_500;

describe.each(engines)('progress past the unstored cap (%s)', (name, store) => {
  beforeAll(async () => {
    if (name === 'redis') await requireRedis();
  });
  afterAll(async () => {
    if (name === 'redis') await deleteKeys(prefix);
    else tmp.remove();
  });

  it('coalesces with an explicit progress.coalesced event, never a silent hole', async () => {
    // The burst holds the event loop, so no renewal runs during it: on a loaded machine it can outlast
    // the helpers' 2 s lease and a second attempt would add its own coalesced event. 30 s cannot lapse.
    const t = await jobsRuntime({ store, jobs: { leaseMs: 30_000 } });
    try {
      t.runtime.jobs.register(
        defineTask({
          name: 'burst',
          lane: 'jobs',
          run(_input: unknown, ctx) {
            for (let i = 1; i <= EMITTED; i++) ctx.progress({ i });
            ctx.log('after the burst');
            return 'ok';
          },
        }),
      );
      const job = await t.runtime.jobs.enqueue('burst', {});
      const events = await collect(t.runtime, job.id);
      expectConsecutive(events);
      // One attempt: the checks below are about one burst.
      expect(events.filter((e) => e.type === 'started')).toHaveLength(1);
      const progress = events.filter((e) => e.type === 'progress').map((e) => (e.data as { i: number }).i);
      const coalesced = events.filter((e) => e.type === 'progress.coalesced');
      expect(coalesced).toHaveLength(1);
      const missed = (coalesced[0]!.data as { count: number }).count;
      // Every value is either in the stream or counted, and the latest one is there.
      expect(progress.length + missed).toBe(EMITTED);
      expect(progress.at(-1)).toBe(EMITTED);
      // The announcement sits right before the value that replaced the missing ones.
      const at = events.indexOf(coalesced[0]!);
      expect(events[at + 1]).toMatchObject({ type: 'progress', data: { i: EMITTED } });
      expect(progress.slice(0, -1)).toEqual(progress.slice(0, -1).map((_, i) => i + 1));
      // Anything emitted after the burst is kept or counted too.
      const logs = events.filter((e) => e.type === 'log').map((e) => e.data as { msg: string; data?: { dropped: number } });
      expect(logs.some((l) => l.msg === 'after the burst') || logs.some((l) => l.data?.dropped === 1)).toBe(true);
      expect(events.at(-1)).toMatchObject({ type: 'succeeded' });
      // A replay from the store gives the same stream.
      expect(await collect(t.runtime, job.id)).toEqual(events);
    } finally {
      await t.close();
    }
  }, 60_000);
});
