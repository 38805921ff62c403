/**
 * Two real processes with the same schedule on one store (a SQLite file; a Redis prefix): every
 * tick is fired by both (each logs it) and the store keeps one job per tick.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../../support/redis.js';
import { tempDir, testRuntime } from '../../support/runtime.js';
import { startProcess, type TasklaneProcess } from '../../support/tasklane-process.js';

const prefixes: string[] = [];
const procs: TasklaneProcess[] = [];
beforeAll(() => requireRedis());
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  for (const p of prefixes) await deleteKeys(p);
});

/** The tick ISO times a process logged firing for the schedule. */
function fired(p: TasklaneProcess, name: string): string[] {
  return p.lines
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; tick?: string })
    .filter((e) => e.msg === `schedule ${name}: tick`)
    .map((e) => e.tick!);
}

for (const engine of ['sqlite', 'redis'] as const) {
  describe(`schedule ticks across two processes on ${engine}`, () => {
    it('makes one job per tick although both processes fire every tick', async () => {
      const dir = tempDir('tasklane-sched-fleet-');
      const prefix = testPrefix('sched-fleet');
      prefixes.push(prefix);
      const store = engine === 'redis' ? { engine: 'redis', url: REDIS_URL, prefix } : { engine: 'sqlite', path: `${dir.dir}/jobs.db` };
      const config = { store, schedules: [{ name: 'both', task: 'sched.tick', cron: '* * * * * *' }] };
      procs.push(...(await Promise.all([startProcess(dir.dir, config), startProcess(dir.dir, config)])));
      await new Promise((r) => setTimeout(r, 4_500));
      await Promise.all(procs.map((p) => p.stop()));
      const [a, b] = procs.map((p) => fired(p, 'both'));
      const common = a!.filter((t) => b!.includes(t));
      // Both fired the same ticks (the race is real), yet each tick made one job.
      expect(common.length).toBeGreaterThanOrEqual(3);
      const reader = await testRuntime({ store: store as never, demo: false, jobs: { worker: false } });
      const jobs = (await reader.runtime.jobs.list({ limit: 500 })).jobs.filter((j) => j.idempotencyKey?.startsWith('schedule:both:'));
      await reader.close();
      const keys = jobs.map((j) => j.idempotencyKey!);
      expect(new Set(keys).size).toBe(keys.length);
      const ticks = new Set([...a!, ...b!]);
      expect(keys.length).toBe(ticks.size);
      for (const t of common) expect(keys).toContain(`schedule:both:${t}`);
      dir.remove();
    });
  });
}
