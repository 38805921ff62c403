/** SQLite-only behaviour: group commit, migrations, the file itself. (The contract is in test/engines.) */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { SqliteJobEngine } from '../../../../src/jobs/engines/sqlite/sqlite-engine.js';
import { SCHEMA_VERSION } from '../../../../src/jobs/engines/sqlite/schema.js';
import { tempDir } from '../../../support/runtime.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function open(): { engine: SqliteJobEngine; path: string } {
  const tmp = tempDir('tasklane-sqlite-');
  cleanup.push(tmp.remove);
  const path = join(tmp.dir, 'tasklane.db');
  const engine = new SqliteJobEngine({ path });
  cleanup.push(() => engine.close());
  return { engine, path };
}

it('a refused write does not undo the writes committed with it', async () => {
  const { engine } = open();
  const job = await engine.enqueue('t', null, { maxAttempts: 1 });
  const claim = (await engine.claim('w', { tasks: ['t'], leaseMs: 10_000 }))!;
  // Same turn: one refusal (wrong token) between two good writes.
  const [a, bad, b] = await Promise.allSettled([
    engine.enqueue('t', 1, { maxAttempts: 1 }),
    engine.finish(job.id, 'wrong-token', { outcome: 'succeeded', result: 1 }),
    engine.finish(job.id, claim.token, { outcome: 'succeeded', result: 2 }),
  ]);
  expect(a.status).toBe('fulfilled');
  expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'TL_ERR_JOB_LEASE_LOST' } });
  expect(b).toMatchObject({ status: 'fulfilled', value: { state: 'succeeded', result: 2 } });
  expect((await engine.list()).jobs).toHaveLength(2);
});

it('commits a burst larger than one batch, in order, over several turns', async () => {
  const { engine } = open();
  const all = await Promise.all(Array.from({ length: 1_000 }, (_, i) => engine.enqueue('t', i, { maxAttempts: 1 })));
  expect(new Set(all.map((j) => j.id)).size).toBe(1_000);
  const order: number[] = [];
  for (;;) {
    const c = await engine.claim('w', { tasks: ['t'], leaseMs: 10_000 });
    if (!c) break;
    order.push(c.job.input as number);
  }
  expect(order).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
});

it('writes go to one WAL-mode file that other connections read; the schema is migrated once', async () => {
  const { engine, path } = open();
  const second = new SqliteJobEngine({ path });
  cleanup.push(() => second.close());
  const job = await engine.enqueue('t', { x: 1 }, { maxAttempts: 1, idempotencyKey: 'k' });
  const raw = new Database(path, { readonly: true });
  try {
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(raw.prepare('SELECT state, idem_key FROM jobs WHERE id = ?').get(job.id)).toEqual({ state: 'queued', idem_key: 'k' });
  } finally {
    raw.close();
  }
  expect((await second.enqueue('t', { x: 2 }, { maxAttempts: 1, idempotencyKey: 'k' })).id).toBe(job.id);
});

it('ids are time-ordered UUIDs', async () => {
  const { engine } = open();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push((await engine.enqueue('t', i, { maxAttempts: 1 })).id);
    await new Promise((r) => setTimeout(r, 2));
  }
  for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect([...ids].sort()).toEqual(ids);
});

it('refuses work once closed, and pending writes are committed by close', async () => {
  const { engine, path } = open();
  const pending = engine.enqueue('t', 'last', { maxAttempts: 1 });
  await engine.close();
  const job = await pending;
  await expect(engine.enqueue('t', 1, { maxAttempts: 1 })).rejects.toMatchObject({ code: 'TL_ERR_STORE_UNAVAILABLE' });
  const reopened = new SqliteJobEngine({ path });
  cleanup.push(() => reopened.close());
  expect(await reopened.get(job.id)).toMatchObject({ input: 'last' });
});

it('brings a file from an earlier build of version 1 up to date (old indexes replaced)', async () => {
  const tmp = tempDir('tasklane-sqlite-old-');
  cleanup.push(tmp.remove);
  const path = join(tmp.dir, 'old.db');
  const old = new Database(path);
  old.exec(`
    CREATE TABLE jobs (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, task TEXT NOT NULL, state TEXT NOT NULL, input TEXT NOT NULL,
      result TEXT, error TEXT, attempt INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL, priority INTEGER NOT NULL DEFAULT 0,
      idem_key TEXT UNIQUE, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, run_at INTEGER NOT NULL, started_at INTEGER,
      finished_at INTEGER, progress TEXT, last_seq INTEGER NOT NULL DEFAULT 0, worker_id TEXT, token TEXT, lease_until INTEGER,
      cancel_requested INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX jobs_due ON jobs (priority DESC, run_at, n) WHERE state IN ('queued', 'delayed');
    CREATE INDEX jobs_state ON jobs (state, n);
    CREATE INDEX jobs_task ON jobs (task, n);
    CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'running';
    CREATE TABLE job_events (job_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, at INTEGER NOT NULL,
      attempt INTEGER, PRIMARY KEY (job_id, seq)) WITHOUT ROWID;
    PRAGMA user_version = 1;`);
  old.close();
  const engine = new SqliteJobEngine({ path });
  cleanup.push(() => engine.close());
  const a = await engine.enqueue('t', 1, { maxAttempts: 1, idempotencyKey: 'k' });
  expect((await engine.enqueue('t', 2, { maxAttempts: 1, idempotencyKey: 'k' })).id).toBe(a.id);
  expect((await engine.claim('w', { tasks: ['t'], leaseMs: 1_000 }))?.job.id).toBe(a.id);
  expect((await engine.list({ state: 'running' })).jobs.map((j) => j.id)).toEqual([a.id]);
  await expect(engine.list({ state: 'sleeping' as never })).rejects.toMatchObject({ code: 'TL_ERR_VALIDATION' });
  const raw = new Database(path, { readonly: true });
  try {
    const names = (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as Array<{ name: string }>).map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['jobs_ready_task', 'jobs_delayed_task', 'jobs_state', 'jobs_task_state', 'jobs_idem']));
    for (const gone of ['jobs_due', 'jobs_ready', 'jobs_delayed', 'jobs_ended']) expect(names).not.toContain(gone);
  } finally {
    raw.close();
  }
});

it('lists every state through its own statement, newest first', async () => {
  const { engine } = open();
  const ids: Record<string, string> = {};
  ids.delayed = (await engine.enqueue('t', 0, { maxAttempts: 1, delayMs: 60_000 })).id;
  ids.succeeded = (await engine.enqueue('t', 1, { maxAttempts: 1 })).id;
  const c1 = (await engine.claim('w', { tasks: ['t'], leaseMs: 10_000 }))!;
  await engine.finish(c1.job.id, c1.token, { outcome: 'succeeded', result: 1 });
  ids.dead = (await engine.enqueue('t', 2, { maxAttempts: 1 })).id;
  const c2 = (await engine.claim('w', { tasks: ['t'], leaseMs: 10_000 }))!;
  await engine.finish(c2.job.id, c2.token, { outcome: 'dead', error: { code: 'X', message: 'x' } });
  ids.running = (await engine.enqueue('t', 3, { maxAttempts: 1 })).id;
  await engine.claim('w', { tasks: ['t'], leaseMs: 10_000 });
  ids.cancelled = (await engine.enqueue('u', 4, { maxAttempts: 1 })).id;
  await engine.cancel(ids.cancelled);
  ids.queued = (await engine.enqueue('u', 5, { maxAttempts: 1 })).id;
  for (const [state, id] of Object.entries(ids)) {
    expect((await engine.list({ state: state as never })).jobs.map((j) => j.id)).toEqual([id]);
    const task = state === 'cancelled' || state === 'queued' ? 'u' : 't';
    expect((await engine.list({ state: state as never, task })).jobs.map((j) => j.id)).toEqual([id]);
  }
});

it('a file of the previous version gets its counters from the jobs it already holds', async () => {
  const tmp = tempDir('tasklane-sqlite-v5-');
  cleanup.push(tmp.remove);
  const path = join(tmp.dir, 'v5.db');
  const first = new SqliteJobEngine({ path });
  await first.enqueue('a', 1, { maxAttempts: 1 });
  await first.enqueue('a', 2, { maxAttempts: 1 });
  await first.enqueue('b', 3, { maxAttempts: 1, delayMs: 60_000 });
  await first.close();
  // Back to version 5: no counters, no triggers (as a file written by the previous build).
  const raw = new Database(path);
  raw.exec(
    'DROP TRIGGER jobs_count_insert; DROP TRIGGER jobs_count_update; DROP TRIGGER jobs_count_delete; DROP TABLE job_counts; ALTER TABLE jobs DROP COLUMN traceparent; PRAGMA user_version = 5;',
  );
  // Nor what later versions added (workflows).
  raw.exec(
    'DROP INDEX jobs_parent; DROP INDEX jobs_waiting; ALTER TABLE jobs DROP COLUMN parent_id; ALTER TABLE jobs DROP COLUMN waiting_for; ALTER TABLE jobs DROP COLUMN parent_told; DROP TABLE job_journal; DROP TABLE job_signals;',
  );
  raw.close();
  const engine = new SqliteJobEngine({ path });
  cleanup.push(() => engine.close());
  const c = (await engine.claim('w', { tasks: ['a'], leaseMs: 10_000 }))!;
  await engine.finish(c.job.id, c.token, { outcome: 'succeeded', result: null });
  const counts = await engine.counts(['a', 'b', 'c']);
  expect(counts.states).toEqual({ queued: 1, delayed: 1, running: 0, waiting: 0, succeeded: 1, dead: 0, cancelled: 0 });
  expect(counts.tasks).toEqual({ a: { queued: 1, succeeded: 1 }, b: { delayed: 1 }, c: {} });
});

it('a claim for a task with nothing queued does not touch the backlog of another task', async () => {
  const { engine } = open();
  for (let i = 0; i < 50; i++) await engine.enqueue('big', i, { maxAttempts: 1 });
  await engine.enqueue('small', 'x', { maxAttempts: 1, priority: -5 });
  // One pass for two lanes: each gets the jobs of its own tasks only, in claim order.
  const [big, small, none] = await engine.claimBatch(
    'w',
    [
      { tasks: ['big'], n: 3 },
      { tasks: ['small', 'idle'], n: 2 },
      { tasks: ['idle'], n: 4 },
    ],
    10_000,
  );
  expect(big!.map((c) => c.job.input)).toEqual([0, 1, 2]);
  expect(small!.map((c) => c.job.input)).toEqual(['x']);
  expect(none).toEqual([]);
  expect((await engine.counts([])).states.running).toBe(4);
});

it('enqueueMany stores every job in one step, or none when the store fails part-way', async () => {
  const { engine } = open();
  const opts = { maxAttempts: 1 };
  const made = await engine.enqueueMany([
    { task: 't', input: 1, opts },
    { task: 'u', input: 2, opts: { ...opts, delayMs: 60_000, priority: 3 } },
  ]);
  expect(made.map((j) => [j.task, j.input, j.state, j.priority, j.lastSeq])).toEqual([
    ['t', 1, 'queued', 0, 1],
    ['u', 2, 'delayed', 3, 1],
  ]);
  expect((await engine.readEvents(made[1]!.id, 0)).map((e) => e.type)).toEqual(['enqueued']);
  // The second input cannot be stored (JSON has no BigInt): the first is not kept either.
  await expect(
    engine.enqueueMany([
      { task: 't', input: 3, opts },
      { task: 't', input: { n: 1n }, opts },
    ]),
  ).rejects.toMatchObject({ code: expect.stringMatching(/^TL_ERR_STORE_/) });
  expect((await engine.list()).jobs).toHaveLength(2);
  // The store goes on working afterwards.
  expect((await engine.enqueueMany([{ task: 't', input: 4, opts }]))[0]!.input).toBe(4);
});
