/**
 * Subscribers of jobs that are not running in this process share the store polling (issue 18
 * point 2): one lastSeqs query per poll for all of them, and one event read per job that moved,
 * however many subscribers each job has. The engine is the real SQLite engine; the counter only
 * counts the calls the hub makes and passes each one through.
 */
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { JobEngine } from '../../src/jobs/engine.js';
import { SqliteJobEngine } from '../../src/jobs/engines/sqlite/sqlite-engine.js';
import { EventHub } from '../../src/jobs/events/event-hub.js';
import type { JobEvent } from '../../src/jobs/types.js';
import { tempDir } from '../support/runtime.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function counted(engine: JobEngine): { engine: JobEngine; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const proxy = new Proxy(engine, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls[String(prop)] = (calls[String(prop)] ?? 0) + 1;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { engine: proxy, calls };
}

it('many subscribers of jobs not running here cost one query per poll, plus one read per job that moved', async () => {
  const tmp = tempDir('tasklane-shared-poll-');
  cleanup.push(tmp.remove);
  const store = new SqliteJobEngine({ path: join(tmp.dir, 'jobs.db') });
  cleanup.push(() => store.close());
  const { engine, calls } = counted(store);
  const pollMs = 20;
  const hub = new EventHub({
    engine,
    flushMs: 5,
    flushSize: 100,
    pollMs,
    maxBuffer: 1_000,
    onError: (e) => {
      throw e;
    },
  });
  cleanup.push(() => hub.close());
  const JOBS = 40;
  const SUBS_PER_JOB = 25;
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i++) ids.push((await store.enqueue('t', i, { maxAttempts: 1 })).id);
  const got = new Map<string, JobEvent[][]>();
  const ends: Array<Promise<void>> = [];
  const controller = new AbortController();
  for (const id of ids) {
    const lists: JobEvent[][] = [];
    got.set(id, lists);
    for (let s = 0; s < SUBS_PER_JOB; s++) {
      const list: JobEvent[] = [];
      lists.push(list);
      ends.push(
        (async () => {
          for await (const e of hub.subscribe(id, 0, { signal: controller.signal })) list.push(e);
        })(),
      );
    }
  }
  // Every subscriber has its first fill (one read each, at start), then the polling settles.
  const started = Date.now();
  for (;;) {
    if ([...got.values()].every((lists) => lists.every((l) => l.length === 1))) break;
    if (Date.now() - started > 10_000) throw new Error('subscribers did not get their first event');
    await new Promise((r) => setTimeout(r, 10));
  }
  const before = { ...calls };
  await new Promise((r) => setTimeout(r, pollMs * 10));
  const idleReads = (calls.readEvents ?? 0) - (before.readEvents ?? 0);
  const idleHeads = (calls.lastSeqs ?? 0) - (before.lastSeqs ?? 0);
  // Nothing moved: no event read at all, and one lastSeqs call per poll (1,000 subscribers, 40 jobs).
  expect(idleReads).toBe(0);
  expect(idleHeads).toBeGreaterThan(0);
  expect(idleHeads).toBeLessThanOrEqual(11);

  // Another process runs one job: its 25 subscribers get the events through one read per poll.
  const claim = (await store.claim('elsewhere', { tasks: ['t'], leaseMs: 10_000 }))!;
  const moved = claim.job.id;
  const mark = { ...calls };
  await store.appendEvents(moved, claim.token, [{ jobId: moved, seq: 3, type: 'progress', data: { p: 1 }, at: Date.now(), attempt: 1 }]);
  await store.finish(moved, claim.token, { outcome: 'succeeded', result: 'done' });
  const t0 = Date.now();
  while (!got.get(moved)!.every((l) => l.at(-1)?.type === 'succeeded')) {
    if (Date.now() - t0 > 10_000) throw new Error('the moved job did not reach its subscribers');
    await new Promise((r) => setTimeout(r, 5));
  }
  const polls = (calls.lastSeqs ?? 0) - (mark.lastSeqs ?? 0);
  const reads = (calls.readEvents ?? 0) - (mark.readEvents ?? 0);
  expect(reads).toBeLessThanOrEqual(polls);
  for (const list of got.get(moved)!)
    expect(list.map((e) => [e.seq, e.type])).toEqual([
      [1, 'enqueued'],
      [2, 'started'],
      [3, 'progress'],
      [4, 'succeeded'],
    ]);
  controller.abort();
  await Promise.all(ends);
});
