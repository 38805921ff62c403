/**
 * Store faults on the real file system: the disk holding the SQLite store fills up (a small tmpfs
 * filled by a file), or the store's files become read-only (the immutable attribute, which even
 * root cannot write through), while jobs run and clients submit. The API must answer with a clear
 * 503, lose nothing, write nothing by halves, and carry on once the fault is gone. Needs root
 * (mount, chattr), as CI runs; without it these tests fail, naming what is missing.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { assertBuilt, runCli, startServe } from '../cli/cli-process.js';
import { testServer } from '../support/runtime.js';
import { api, readSse } from '../server/routes/jobs-helpers.js';
import { SqliteJobEngine } from '../../src/jobs/engines/sqlite/sqlite-engine.js';
import { EventHub } from '../../src/jobs/events/event-hub.js';
import type { TasklaneError } from '../../src/errors.js';
import { TASKS_MODULE } from './helpers.js';

type Server = Awaited<ReturnType<typeof testServer>>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const undo of cleanups.splice(0).reverse()) {
    try {
      undo();
    } catch {
      // Best effort: the next step still runs.
    }
  }
});

function sh(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'pipe' });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(
      `\`${cmd} ${args.join(' ')}\` failed (these tests need root, mount and chattr): ${e.stderr?.toString().trim() || e.message}`,
    );
  }
}

/** A fresh tmpfs of `mib` MiB, unmounted after the test. */
function smallDisk(mib: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-disk-'));
  sh('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir]);
  cleanups.push(() => {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the disk holding `dir` to the last byte; returns the filler's path. */
function fill(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  try {
    for (const size of [1 << 20, 1 << 12, 1 << 9]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

async function storeServer(data: string): Promise<Server> {
  return testServer({
    data,
    lanes: { jobs: { placement: 'loop', concurrency: 8, maxQueue: 1_000, timeoutMs: 30_000 } },
    jobs: { pollMs: 50, leaseMs: 30_000, modules: [TASKS_MODULE] },
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function ready(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: await res.json() };
}

/** Starts `n` sleepers (progress every 50 ms) and waits until all run. */
async function startSleepers(url: string, n: number, ms: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await api(url, 'POST', '/v1/jobs', { task: 'test.sleep', input: { ms, label: `s${i}` } });
    expect(r.status).toBe(201);
    ids.push(r.body.id);
  }
  for (const id of ids)
    await until(`job ${id} to run`, async () => ((await api(url, 'GET', `/v1/jobs/${id}`)).body.state === 'running' ? true : undefined));
  return ids;
}

/** After the fault: each sleeper succeeded on its first attempt with every event stored, in order. */
async function expectSleepersWhole(url: string, ids: string[], ms: number): Promise<void> {
  for (const id of ids) {
    const job = await until(`job ${id} to succeed`, async () => {
      const r = await api(url, 'GET', `/v1/jobs/${id}`);
      return r.body.state === 'succeeded' || r.body.state === 'dead' ? r.body : undefined;
    });
    expect(job).toMatchObject({ state: 'succeeded', attempt: 1, result: { slept: ms, attempt: 1 } });
    const { status, events } = await readSse(`${url}/v1/jobs/${id}/events`);
    expect(status).toBe(200);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)).toMatchObject({ type: 'succeeded', seq: job.lastSeq });
    const progress = events.filter((e) => e.type === 'progress').map((e) => (e.data as { i: number }).i);
    // One progress event per 50 ms step, all of them kept through the fault, in order.
    expect(progress.length).toBe(Math.ceil(ms / 50));
    expect(progress).toEqual(progress.map((_, i) => i + 1));
  }
}

function integrity(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

describe('store faults (SQLite)', () => {
  let t: Server | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('disk full: submissions get 503 TL_ERR_STORE_FULL, running jobs keep their results and events, all resumes when space is freed', async () => {
    const disk = smallDisk(24);
    const data = join(disk, 'data');
    t = await storeServer(data);
    const dbPath = join(data, 'tasklane.db');
    const SLEEP_MS = 2_500;
    const sleepers = await startSleepers(t.url, 4, SLEEP_MS);
    const filler = fill(disk);

    // Submissions carry on until the store has no room left (SQLite fills its WAL first).
    const pad = 'x'.repeat(32 * 1024);
    const accepted: Array<{ key: string; id: string }> = [];
    let refused: { key: string; status: number; body: any; retryAfter: string | null } | undefined;
    for (let i = 0; i < 800 && !refused; i++) {
      const key = `fill-${i}`;
      const res = await fetch(`${t.url}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'test.noop', input: { pad }, idempotencyKey: key }),
      });
      const body = await res.json();
      if (res.status === 201 || res.status === 200) accepted.push({ key, id: body.id });
      else refused = { key, status: res.status, body, retryAfter: res.headers.get('retry-after') };
    }
    expect(refused, 'the disk never filled up').toBeDefined();
    expect(refused!.status).toBe(503);
    expect(refused!.retryAfter).toBe('1');
    expect(refused!.body.error.code).toBe('TL_ERR_STORE_FULL');
    expect(refused!.body.error.message).toMatch(/is full/);
    expect(refused!.body.error.message).toContain('store.path');

    // Reads still work; readiness says what is wrong.
    expect((await api(t.url, 'GET', `/v1/jobs/${sleepers[0]}`)).status).toBe(200);
    const notReady = await ready(t.url);
    expect(notReady.status).toBe(503);
    expect(JSON.stringify(notReady.body)).toMatch(/full/);

    // The sleepers finish their work during the fault: their outcome waits for the store.
    await sleep(SLEEP_MS + 500);
    for (const id of sleepers) expect((await api(t.url, 'GET', `/v1/jobs/${id}`)).body.state).toBe('running');
    // One log line every few seconds, not one per failed write.
    const faultLines = t.logs.lines.filter((l) => l.includes('TL_ERR_STORE_FULL'));
    expect(faultLines.length).toBeGreaterThan(0);
    expect(faultLines.length).toBeLessThan(40);

    rmSync(filler);
    await until('readiness after space is freed', async () => ((await ready(t!.url)).status === 200 ? true : undefined));
    await expectSleepersWhole(t.url, sleepers, SLEEP_MS);

    // The refused submission was not half-made: sent again with its key, it is made once, now.
    const again = await api(t.url, 'POST', '/v1/jobs', { task: 'test.noop', input: { pad }, idempotencyKey: refused!.key });
    expect(again.status).toBe(201);
    const again2 = await api(t.url, 'POST', '/v1/jobs', { task: 'test.noop', input: { pad }, idempotencyKey: refused!.key });
    expect(again2.body.id).toBe(again.body.id);
    for (const { id } of [...accepted, { id: again.body.id }]) {
      await until(`job ${id} to succeed`, async () =>
        (await api(t!.url, 'GET', `/v1/jobs/${id}`)).body.state === 'succeeded' ? true : undefined,
      );
    }
    // Every job the store holds is one that was accepted: nothing extra, nothing missing.
    const listed = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await api(t.url, 'GET', `/v1/jobs?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      for (const j of page.body.jobs) listed.add(j.id);
      cursor = page.body.next;
    } while (cursor);
    expect([...listed].sort()).toEqual([...sleepers, ...accepted.map((a) => a.id), again.body.id].sort());
    expect(integrity(dbPath)).toBe('ok');
  }, 90_000);

  it('read-only files: writes get 503 TL_ERR_STORE_READONLY naming the file, reads work, running jobs finish once writable again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tasklane-ro-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    t = await storeServer(dir);
    const dbPath = join(dir, 'tasklane.db');
    const SLEEP_MS = 2_000;
    const sleepers = await startSleepers(t.url, 3, SLEEP_MS);
    // The -shm file is memory-mapped and stays writable; the database and its log do not.
    const files = [dbPath, `${dbPath}-wal`];
    expect(files.every(existsSync)).toBe(true);
    sh('chattr', ['+i', ...files]);
    cleanups.push(() => execFileSync('chattr', ['-i', ...files], { stdio: 'ignore' }));

    const res = await fetch(`${t.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'test.noop', idempotencyKey: 'ro-1' }),
    });
    const body = await res.json();
    expect(res.status).toBe(503);
    expect(body.error.code).toBe('TL_ERR_STORE_READONLY');
    expect(body.error.message).toMatch(/cannot be written \(EPERM on tasklane\.db/);
    expect(body.error.message).toContain('store.path');
    const cancel = await api(t.url, 'POST', `/v1/jobs/${sleepers[0]}/cancel`, {});
    expect(cancel.status).toBe(503);
    expect(cancel.body.error.code).toBe('TL_ERR_STORE_READONLY');
    expect((await api(t.url, 'GET', `/v1/jobs/${sleepers[1]}`)).body.state).toBe('running');
    expect((await ready(t.url)).status).toBe(503);

    await sleep(SLEEP_MS + 300);
    execFileSync('chattr', ['-i', ...files]);
    await until('readiness once writable', async () => ((await ready(t!.url)).status === 200 ? true : undefined));
    await expectSleepersWhole(t.url, sleepers, SLEEP_MS);
    const made = await api(t.url, 'POST', '/v1/jobs', { task: 'test.noop', idempotencyKey: 'ro-1' });
    expect(made.status).toBe(201);
    expect(integrity(dbPath)).toBe('ok');
  }, 60_000);

  it('a store on a read-only mount at start: serve exits with a message naming the setting and the fix, and starts once writable', async () => {
    assertBuilt('cli/main.js');
    const disk = smallDisk(8);
    const data = join(disk, 'data');
    mkdirSync(data);
    // A store made earlier, then the disk mounted read-only.
    const first = await startServe(['--port', '0', '--data', data]);
    expect(await first.stop()).toBe(0);
    sh('mount', ['-o', 'remount,ro', disk]);
    const refused = await runCli(['serve', '--port', '0', '--data', data], { timeoutMs: 20_000 });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('TL_ERR_STORE_READONLY');
    expect(refused.stderr).toMatch(/EROFS/);
    expect(refused.stderr).toContain('store.path');
    expect(refused.stderr).toContain('--data');
    expect(refused.stdout).not.toMatch(/^listening/);
    sh('mount', ['-o', 'remount,rw', disk]);
    const second = await startServe(['--port', '0', '--data', data]);
    const r = await fetch(`${second.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await second.stop()).toBe(0);
  }, 60_000);

  it('keeps memory bounded during a long fault: past maxUnstored only the latest progress is kept and log lines are counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tasklane-ro-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const engine = new SqliteJobEngine({ path: join(dir, 'jobs.db') });
    const errors: TasklaneError[] = [];
    const hub = new EventHub({
      engine,
      flushMs: 5,
      flushSize: 50,
      pollMs: 50,
      maxBuffer: 1_000,
      maxUnstored: 100,
      onError: (e) => errors.push(e),
    });
    try {
      await engine.enqueue('t', {}, { maxAttempts: 1 });
      const claim = (await engine.claim('w', { tasks: ['t'], leaseMs: 60_000 }))!;
      const live = hub.startLive(claim.job, claim.token, 0, () => {});
      live.progress({ i: 0 });
      await live.flush();
      const files = [engine.path, `${engine.path}-wal`];
      sh('chattr', ['+i', ...files]);
      cleanups.push(() => execFileSync('chattr', ['-i', ...files], { stdio: 'ignore' }));
      for (let i = 1; i <= 1_000; i++) {
        live.progress({ i });
        if (i % 10 === 0) live.emit('log', { msg: `line ${i}` });
        if (i % 100 === 0) await sleep(10);
      }
      expect(live.unstored.length).toBe(100);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((e) => e.code === 'TL_ERR_STORE_READONLY')).toBe(true);
      execFileSync('chattr', ['-i', ...files]);
      await live.flush();
      hub.endLive(live);
      const events = await engine.readEvents(claim.job.id, 0);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      const progress = events.filter((e) => e.type === 'progress').map((e) => (e.data as { i: number }).i);
      // The 100 kept in order, then the latest value; nothing in between is made up.
      expect(progress.at(-1)).toBe(1_000);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      const logs = events.filter((e) => e.type === 'log').map((e) => (e.data as { msg: string }).msg);
      expect(logs.at(-1)).toMatch(/^\d+ log lines were not kept: more than 100 events of this attempt were waiting to be stored$/);
      // The progress values replaced by the latest one are announced, with their number.
      const coalesced = events.filter((e) => e.type === 'progress.coalesced').map((e) => (e.data as { count: number }).count);
      expect(progress.length - 1 + coalesced.reduce((a, b) => a + b, 0)).toBe(1_000);
      const kept = logs.length - 1;
      expect(kept + Number(logs.at(-1)!.split(' ')[0])).toBe(100);
    } finally {
      hub.close();
      await engine.close();
    }
  });
});
