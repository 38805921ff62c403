/**
 * Stored data knows its version: a SQLite file (`PRAGMA user_version`) and a Redis prefix
 * (`<prefix>:meta` `format`). Older data is migrated forward (SQLite in one transaction), newer
 * data is refused with TL_ERR_STORE_TOO_NEW naming both versions, and left untouched.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisJobEngine } from '../../src/jobs/engines/redis/redis-engine.js';
import { REDIS_FORMAT } from '../../src/jobs/engines/redis/format.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/jobs/engines/sqlite/schema.js';
import { SqliteJobEngine } from '../../src/jobs/engines/sqlite/sqlite-engine.js';
import { REDIS_URL, requireRedis, testPrefix } from '../support/redis.js';
import { tempDir } from '../support/runtime.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const tmpFile = () => {
  const t = tempDir();
  cleanups.push(t.remove);
  return join(t.dir, 'tasklane.db');
};
const version = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
};

/** A file as an older build left it: its first `steps` migrations, and one job. */
function oldFile(file: string, steps: number): void {
  const db = new Database(file);
  for (const sql of MIGRATIONS.slice(0, steps)) db.exec(sql);
  db.prepare(
    `INSERT INTO jobs (id, task, state, input, max_attempts, created_at, updated_at, run_at, last_seq) VALUES ('old-1', 't', 'queued', '{"a":1}', 3, 1, 1, 1, 1)`,
  ).run();
  db.prepare(`INSERT INTO job_events (job_id, seq, type, data, at) VALUES ('old-1', 1, 'enqueued', '{}', 1)`).run();
  db.pragma(`user_version = ${steps}`);
  db.close();
}

describe('SQLite format version', () => {
  it('refuses a file from a newer tasklane with TL_ERR_STORE_TOO_NEW naming both versions, and leaves it alone', () => {
    const file = tmpFile();
    new SqliteJobEngine({ path: file }).close();
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 7}`);
    db.close();
    let err: any;
    try {
      new SqliteJobEngine({ path: file });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'TL_ERR_STORE_TOO_NEW',
      httpStatus: 500,
      details: { found: SCHEMA_VERSION + 7, supported: SCHEMA_VERSION },
    });
    expect(err.message).toContain(`format version ${SCHEMA_VERSION + 7}`);
    expect(err.message).toContain(`version ${SCHEMA_VERSION}`);
    expect(version(file)).toBe(SCHEMA_VERSION + 7);
  });

  it('migrates every older version forward; old jobs read back, without an owner', async () => {
    for (let steps = 1; steps < SCHEMA_VERSION; steps++) {
      const file = tmpFile();
      oldFile(file, steps);
      const engine = new SqliteJobEngine({ path: file });
      expect(engine.format).toEqual({ found: steps, now: SCHEMA_VERSION });
      expect(await engine.get('old-1')).toMatchObject({ id: 'old-1', state: 'queued', input: { a: 1 } });
      expect((await engine.get('old-1'))!.owner).toBeUndefined();
      const mine = await engine.enqueue('t', {}, { maxAttempts: 1, owner: { key: 'k' } });
      expect((await engine.list({ owner: { key: 'k' } })).jobs.map((j) => j.id)).toEqual([mine.id]);
      await engine.close();
      expect(version(file)).toBe(SCHEMA_VERSION);
    }
  });

  it('runs the migrations in one transaction: a step that fails leaves the file at its old version, unchanged', () => {
    const file = tmpFile();
    // The owner step adds owner_key and owner_tenant, then creates jobs_owner: with that index
    // already there it fails half-way (a column already there is skipped, see schema.ts).
    const ownerStep = MIGRATIONS.findIndex((m) => m.includes('ADD COLUMN owner_key'));
    expect(ownerStep).toBeGreaterThan(0);
    oldFile(file, ownerStep);
    const db = new Database(file);
    db.exec('CREATE INDEX jobs_owner ON jobs (task)');
    db.close();
    const columns = () => {
      const d = new Database(file, { readonly: true });
      try {
        return (d.prepare('PRAGMA table_info(jobs)').all() as Array<{ name: string }>).map((c) => c.name);
      } finally {
        d.close();
      }
    };
    const before = columns();
    expect(() => new SqliteJobEngine({ path: file })).toThrow(/already exists/);
    expect(version(file)).toBe(ownerStep);
    expect(columns()).toEqual(before);
    expect(before).not.toContain('owner_key');
  });
});

describe('Redis format version', () => {
  beforeAll(() => requireRedis());
  const prefixes: string[] = [];
  const redis = new Redis(REDIS_URL);
  afterAll(async () => {
    // The keys these tests make, by name: a SCAN of a shared Redis full of other data can take long.
    for (const p of prefixes) await redis.del(`${p}:meta`, `${p}:idx:ord`, `${p}:job:j1`);
    redis.disconnect();
  });
  const engineOn = (prefix: string) => {
    const e = new RedisJobEngine({ url: REDIS_URL, prefix, leaseMs: 10_000, onError: () => {} });
    cleanups.push(() => e.close());
    return e;
  };
  const fresh = () => {
    const p = testPrefix('format');
    prefixes.push(p);
    return p;
  };

  it('records the format on a new prefix, and brings a prefix from before versions (1) forward', async () => {
    const empty = fresh();
    await engineOn(empty).start();
    expect(await redis.hget(`${empty}:meta`, 'format')).toBe(String(REDIS_FORMAT));

    const old = fresh();
    // What an older build leaves: records and indexes, no meta.
    await redis.set(`${old}:idx:ord`, '3');
    await redis.hset(`${old}:job:j1`, {
      id: 'j1',
      task: 't',
      state: 'queued',
      input: '{}',
      attempt: '0',
      maxAttempts: '1',
      priority: '0',
      createdAt: '1',
      updatedAt: '1',
      runAt: '1',
      lastSeq: '1',
      ord: '3',
    });
    const engine = engineOn(old);
    expect(await engine.format({ migrate: false })).toEqual({ found: 1, now: 1 });
    await engine.start();
    expect(await redis.hget(`${old}:meta`, 'format')).toBe(String(REDIS_FORMAT));
    expect(await engine.format({ migrate: false })).toEqual({ found: REDIS_FORMAT, now: REDIS_FORMAT });
    const record = await engine.get('j1');
    expect(record).toMatchObject({ id: 'j1', state: 'queued' });
    expect(record!.owner).toBeUndefined();
  });

  it('refuses to start on a prefix from a newer tasklane, naming both versions', async () => {
    const newer = fresh();
    await redis.hset(`${newer}:meta`, 'format', String(REDIS_FORMAT + 3));
    const engine = engineOn(newer);
    await expect(engine.start()).rejects.toMatchObject({
      code: 'TL_ERR_STORE_TOO_NEW',
      details: { found: REDIS_FORMAT + 3, supported: REDIS_FORMAT },
    });
    await expect(engine.format({ migrate: true })).rejects.toThrow(
      new RegExp(`format version ${REDIS_FORMAT + 3}, newer than version ${REDIS_FORMAT}`),
    );
    expect(await redis.hget(`${newer}:meta`, 'format')).toBe(String(REDIS_FORMAT + 3));
  });
});
