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
