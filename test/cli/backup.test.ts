/**
 * `tasklane backup FILE` copies the SQLite store while a real `tasklane serve` keeps writing to
 * it; the copy restores (stop, replace the file, start) with every job it held. `tasklane migrate`
 * reports and raises the format version; a store from a newer tasklane stops `serve` at start.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/jobs/engines/sqlite/schema.js';
import { tempDir } from '../support/runtime.js';
import { assertBuilt, runCli, startServe, type ServeProcess } from './cli-process.js';

const submit = async (url: string, steps: number) => {
  const res = await fetch(`${url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ task: 'demo.progress', input: { steps, ms: 5 } }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
};

describe('tasklane backup, restore and migrate', () => {
  const cleanups: Array<() => unknown> = [];
  beforeAll(() => assertBuilt('cli/backup.js'));
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const tmp = () => {
    const t = tempDir();
    cleanups.push(t.remove);
    return t.dir;
  };

  it('backs up while the server runs and writes, and the copy restores with every job it held', async () => {
    const dir = tmp();
    const data = join(dir, 'data');
    const serve: ServeProcess = await startServe(['--port', '0', '--data', data], { cwd: dir });
    cleanups.push(() => serve.stop());
    const before: string[] = [];
    for (let i = 0; i < 30; i++) before.push(await submit(serve.url, 3));
    // Writers keep going during the backup.
    let writing = true;
    const during: string[] = [];
    const writer = (async () => {
      while (writing) during.push(await submit(serve.url, 2));
    })();
    const backupFile = join(dir, 'copy.db');
    const r = await runCli(['backup', backupFile, '--data', data, '--json'], { cwd: dir });
    writing = false;
    await writer;
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ file: backupFile, format: SCHEMA_VERSION });
    expect(out.jobs).toBeGreaterThanOrEqual(before.length);
    expect(during.length).toBeGreaterThan(0);
    expect(existsSync(`${backupFile}.partial`)).toBe(false);
    // The server carried on: it still answers and writes.
    await submit(serve.url, 1);
    expect(await serve.stop()).toBe(0);

    // Restore: a fresh data folder whose store file is the copy.
    const restored = join(dir, 'restored');
    mkdirSync(restored);
    copyFileSync(backupFile, join(restored, 'tasklane.db'));
    const again: ServeProcess = await startServe(['--port', '0', '--data', restored], { cwd: dir });
    cleanups.push(() => again.stop());
    for (const id of before) {
      const res = await fetch(`${again.url}/v1/jobs/${id}`);
      expect(res.status).toBe(200);
    }
    const listed = (await (await fetch(`${again.url}/v1/jobs?limit=500`)).json()) as { jobs: unknown[] };
    expect(listed.jobs.length).toBe(out.jobs);
  }, 60_000);

  it('refuses to back up a Redis store, naming the setting', async () => {
    const dir = tmp();
    const cfg = join(dir, 'redis.json');
    writeFileSync(cfg, JSON.stringify({ store: { engine: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'tltest:nobackup' } }));
    const redis = await runCli(['backup', join(dir, 'x.db'), '--config', cfg], { cwd: dir });
    expect(redis.code).toBe(2);
    expect(redis.stderr).toMatch(/store\.engine is "redis"/);
  });

  it('migrate reports and raises the version; serve refuses a store from a newer tasklane', async () => {
    const dir = tmp();
    const data = join(dir, 'data');
    mkdirSync(data);
    const file = join(data, 'tasklane.db');
    // An older file: the first migration only.
    const { MIGRATIONS } = await import('../../src/jobs/engines/sqlite/schema.js');
    let db = new Database(file);
    db.exec(MIGRATIONS[0]!);
    db.pragma('user_version = 1');
    db.close();
    const check = await runCli(['migrate', '--check', '--data', data, '--json'], { cwd: dir });
    expect(check.code).toBe(1);
    expect(JSON.parse(check.stdout)).toMatchObject({ found: 1, now: 1, supported: SCHEMA_VERSION, current: false });
    const up = await runCli(['migrate', '--data', data], { cwd: dir });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain(`migrated from format version 1 to ${SCHEMA_VERSION}`);

    db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const serve = await runCli(['serve', '--port', '0', '--data', data], { cwd: dir });
    expect(serve.code).toBe(1);
    expect(serve.stderr).toContain('TL_ERR_STORE_TOO_NEW');
    expect(serve.stderr).toContain(`format version ${SCHEMA_VERSION + 1}, newer than version ${SCHEMA_VERSION}`);
    const refused = await runCli(['migrate', '--data', data], { cwd: dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('TL_ERR_STORE_TOO_NEW');
  }, 30_000);
});
