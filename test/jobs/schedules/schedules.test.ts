/**
 * Schedules on a real runtime, on SQLite and on Redis: seconds crons fire one job per tick with the
 * tick's idempotency key; overlap 'skip' makes no job while the previous one runs; after a restart
 * only the latest missed tick runs, once; a schedule seen for the first time runs nothing missed.
 * Config and API errors name the setting.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../../src/index.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../../support/redis.js';
import { tempDir, testRuntime, type TestRuntime } from '../../support/runtime.js';

const TASKS = fileURLToPath(new URL('../../fixtures/jobs/limited-tasks.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Sleeps until `ms` past the next whole second (ticks of a seconds cron land on whole seconds). */
const pastNextSecond = (ms: number) => sleep(1_000 - (Date.now() % 1_000) + ms);

const prefixes: string[] = [];
beforeAll(() => requireRedis());
afterAll(async () => {
  for (const p of prefixes) await deleteKeys(p);
});

const open: TestRuntime[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.runtime.close().catch(() => {});
});

for (const engine of ['sqlite', 'redis'] as const) {
  describe(`schedules on ${engine}`, () => {
    /** A store both runtimes of a test share: a data folder (SQLite) or a key prefix (Redis). */
    const shared = () => {
      const dir = tempDir('tasklane-sched-');
      const prefix = testPrefix('sched');
      prefixes.push(prefix);
      const store: ConfigInput['store'] =
        engine === 'redis' ? { engine: 'redis', url: REDIS_URL, prefix } : { engine: 'sqlite', path: `${dir.dir}/jobs.db` };
      return { store, remove: dir.remove };
    };
    const runtime = async (store: ConfigInput['store'], schedules: ConfigInput['schedules']) => {
      const t = await testRuntime({
        store,
        lanes: { jobs: { placement: 'loop', concurrency: 4, maxQueue: 100, timeoutMs: 60_000 } },
        jobs: { pollMs: 50, modules: [TASKS] },
        schedules,
        log: { level: 'debug' },
      });
      open.push(t);
      await t.runtime.start();
      return t;
    };
    const tickJobs = async (t: TestRuntime, name: string) =>
      (await t.runtime.jobs.list({ task: 'sched.tick', limit: 500 })).jobs
        .filter((j) => j.idempotencyKey?.startsWith(`schedule:${name}:`))
        .sort((a, b) => a.idempotencyKey!.localeCompare(b.idempotencyKey!));
    const tickOf = (key: string) => Date.parse(key.split(':').slice(2).join(':'));

    it('fires one job per tick of a seconds cron, keyed by the tick', async () => {
      const s = shared();
      const t = await runtime(s.store, [{ name: 'every', task: 'sched.tick', cron: '* * * * * *' }]);
      await pastNextSecond(3_200);
      const jobs = await tickJobs(t, 'every');
      expect(jobs.length).toBeGreaterThanOrEqual(3);
      expect(jobs.length).toBeLessThanOrEqual(5);
      const ticks = jobs.map((j) => tickOf(j.idempotencyKey!));
      for (const tk of ticks) expect(tk % 1_000).toBe(0);
      // Consecutive seconds, none twice.
      ticks.slice(1).forEach((tk, i) => expect(tk - ticks[i]!).toBe(1_000));
      const [info] = await t.runtime.jobs.schedules();
      expect(info).toMatchObject({ name: 'every', task: 'sched.tick', timezone: 'UTC', overlap: 'skip', input: null });
      expect(Date.parse(info!.nextRunAt!)).toBeGreaterThan(Date.now() - 1_000);
      expect(ticks).toContain(Date.parse(info!.lastRunAt!));
      expect(jobs.map((j) => j.id)).toContain(info!.lastJobId);
      await t.close();
      s.remove();
    });

    it("overlap 'skip' makes no job while the previous one runs; 'allow' makes one per tick", async () => {
      const s = shared();
      const t = await runtime(s.store, [
        { name: 'slow-skip', task: 'sched.tick', cron: '* * * * * *', input: { ms: 2_300 } },
        { name: 'slow-allow', task: 'sched.tick', cron: '* * * * * *', input: { ms: 2_300 }, overlap: 'allow' },
      ]);
      await pastNextSecond(3_400);
      const skip = await tickJobs(t, 'slow-skip');
      const allow = await tickJobs(t, 'slow-allow');
      expect(allow.length).toBeGreaterThanOrEqual(4);
      // The first job runs 2.3 s: the ticks in between make nothing.
      expect(skip.length).toBeLessThanOrEqual(2);
      expect(skip.length).toBeGreaterThanOrEqual(1);
      if (skip[1]) expect(skip[1].createdAt).toBeGreaterThanOrEqual((await t.runtime.jobs.get(skip[0]!.id))!.finishedAt!);
      expect(t.logs.text).toMatch(/schedule slow-skip: tick skipped, the previous job has not ended/);
      await t.close();
      s.remove();
    });

    it('after downtime runs only the latest missed tick, once; a schedule seen for the first time runs nothing missed', async () => {
      const s = shared();
      // First sight of a daily schedule at any time of day: nothing to catch up.
      const first = await runtime(s.store, [
        { name: 'daily', task: 'sched.tick', cron: '0 3 * * *' },
        { name: 'often', task: 'sched.tick', cron: '* * * * * *' },
      ]);
      await pastNextSecond(1_300);
      expect(await tickJobs(first, 'daily')).toEqual([]);
      await first.runtime.close();
      const before = (
        await (async () => {
          const t = await runtime(s.store, []);
          const n = await tickJobs(t, 'often');
          await t.runtime.close();
          return n;
        })()
      ).map((j) => j.idempotencyKey);
      expect(before.length).toBeGreaterThanOrEqual(1);
      const downAt = Date.now();
      await sleep(3_300);
      const restartedAt = Date.now();
      const second = await runtime(s.store, [
        { name: 'daily', task: 'sched.tick', cron: '0 3 * * *' },
        { name: 'often', task: 'sched.tick', cron: '* * * * * *' },
      ]);
      const startedAt = Date.now();
      const after = await tickJobs(second, 'often');
      const missed = after.filter((j) => !before.includes(j.idempotencyKey));
      // Start waited for the catch-up: the latest tick at or before the restart, and nothing else from the downtime.
      const during = missed.filter((j) => tickOf(j.idempotencyKey!) <= startedAt);
      expect(during).toHaveLength(1);
      const latest = Math.floor(restartedAt / 1_000) * 1_000;
      expect(tickOf(during[0]!.idempotencyKey!)).toBeGreaterThanOrEqual(latest);
      expect(tickOf(during[0]!.idempotencyKey!)).toBeGreaterThan(downAt + 1_000);
      expect(await tickJobs(second, 'daily')).toEqual([]);
      await second.close();
      s.remove();
    });

    it('runtime.jobs.schedule() adds a schedule that fires; a name twice or an unknown task is refused', async () => {
      const s = shared();
      const t = await runtime(s.store, []);
      const info = await t.runtime.jobs.schedule({ name: 'added', task: 'sched.tick', cron: '*/1 * * * * *', timezone: 'Europe/Paris' });
      expect(info).toMatchObject({ name: 'added', timezone: 'Europe/Paris', lastJobId: null });
      await expect(t.runtime.jobs.schedule({ name: 'added', task: 'sched.tick', cron: '* * * * * *' })).rejects.toMatchObject({
        code: 'TL_ERR_SCHEDULE_EXISTS',
      });
      await expect(t.runtime.jobs.schedule({ name: 'nope', task: 'no.such', cron: '* * * * * *' })).rejects.toMatchObject({
        code: 'TL_ERR_CONFIG_INVALID',
        message: expect.stringMatching(/task "no\.such", which is not registered/),
      });
      await pastNextSecond(1_200);
      expect((await tickJobs(t, 'added')).length).toBeGreaterThanOrEqual(1);
      await t.close();
      s.remove();
    });
  });
}

describe('schedule settings', () => {
  /** The error createRuntime() refuses this `schedules` setting with. */
  const attempt = (schedules: unknown) =>
    testRuntime({ schedules } as ConfigInput).then(
      (t) => {
        open.push(t);
        return undefined;
      },
      (e: Error) => e,
    );

  it('names the setting and the fix for a bad cron, time zone, overlap or a name used twice', async () => {
    expect((await attempt([{ name: 'a', task: 'demo.progress', cron: 'every night' }]))?.message).toMatch(
      /config schedules\.0\.cron: "every night" is not a cron expression .*use 5 fields, or 6 with seconds first; fix schedules\.0\.cron/,
    );
    expect((await attempt([{ name: 'a', task: 'demo.progress', cron: '0 2 * * *', timezone: 'Mars/Olympus' }]))?.message).toMatch(
      /config schedules\.0\.timezone: "Mars\/Olympus" is not an IANA time zone/,
    );
    expect((await attempt([{ name: 'a', task: 'demo.progress', cron: '0 2 * * *', overlap: 'queue' }]))?.message).toMatch(
      /schedules\.0\.overlap/,
    );
    const twice = [
      { name: 'a', task: 'demo.progress', cron: '0 2 * * *' },
      { name: 'a', task: 'demo.progress', cron: '0 3 * * *' },
    ];
    expect((await attempt(twice))?.message).toMatch(/schedules\.1\.name: "a" names two schedules/);
  });

  it('refuses to start with a schedule whose task is not registered', async () => {
    const t = await testRuntime({ schedules: [{ name: 'nightly', task: 'reports.compile', cron: '0 2 * * *' }] });
    open.push(t);
    await expect(t.runtime.start()).rejects.toMatchObject({
      code: 'TL_ERR_CONFIG_INVALID',
      message: expect.stringMatching(/schedules\[0\]\.task: schedule "nightly" names task "reports\.compile", which is not registered/),
    });
  });

  it('reads the fields in the time zone given (02:00 in Paris is 00:00 or 01:00 UTC)', async () => {
    const t = await testRuntime({ schedules: [{ name: 'paris', task: 'demo.progress', cron: '0 2 * * *', timezone: 'Europe/Paris' }] });
    open.push(t);
    await t.runtime.start();
    const [info] = await t.runtime.jobs.schedules();
    const next = new Date(info!.nextRunAt!);
    expect([0, 1]).toContain(next.getUTCHours());
    expect(next.getUTCMinutes()).toBe(0);
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(86_400_000);
  });
});
