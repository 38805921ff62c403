/**
 * `tasklane migrate` against a Redis store (issue 21 point 5): --check reads the prefix's format
 * without writing, migrate brings a prefix written before versions were recorded forward, a
 * second run finds it current, and a prefix from a newer tasklane is refused and left alone.
 * The built CLI as a user runs it, on a real Redis with its own prefix.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_FORMAT } from '../../src/jobs/engines/redis/format.js';
import { REDIS_URL, deleteKeys, requireRedis, testPrefix } from '../support/redis.js';
import { tempDir } from '../support/runtime.js';
import { assertBuilt, runCli } from './cli-process.js';

const prefix = testPrefix('cli-migrate');
const tmp = tempDir('tasklane-cli-migrate-');
const redis = new Redis(REDIS_URL, { lazyConnect: true });

beforeAll(async () => {
  assertBuilt('cli/migrate.js');
  await requireRedis();
  await redis.connect();
});
afterAll(async () => {
  await deleteKeys(prefix);
  redis.disconnect();
  tmp.remove();
});

function configFile(name: string, store: Record<string, unknown>): string {
  const file = join(tmp.dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ data: join(tmp.dir, 'data'), store }));
  return file;
}

describe('tasklane migrate on Redis', () => {
  it('checks, migrates, finds it current, and refuses a newer format', async () => {
    const file = configFile('redis', { engine: 'redis', url: REDIS_URL, prefix });
    // What a build from before format versions leaves: a record and its order counter, no meta.
    await redis.set(`${prefix}:idx:ord`, '1');
    await redis.hset(`${prefix}:job:j1`, {
      id: 'j1',
      task: 't',
      state: 'queued',
      input: '{}',
      maxAttempts: '1',
      priority: '0',
      createdAt: '1',
      runAt: '1',
      lastSeq: '1',
      ord: '1',
    });

    const check = await runCli(['migrate', '--check', '--config', file, '--json'], { cwd: tmp.dir });
    expect(check.code, check.stderr).toBe(1);
    expect(JSON.parse(check.stdout)).toEqual({
      store: `${REDIS_URL} prefix ${prefix}`,
      found: 1,
      now: 1,
      supported: REDIS_FORMAT,
      current: false,
    });
    expect(await redis.hget(`${prefix}:meta`, 'format')).toBeNull();
    const human = await runCli(['migrate', '--check', '--config', file], { cwd: tmp.dir });
    expect(human.stdout).toContain(`format version 1, older than ${REDIS_FORMAT}: run tasklane migrate`);

    const up = await runCli(['migrate', '--config', file], { cwd: tmp.dir });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout.trim()).toBe(`${REDIS_URL} prefix ${prefix}: migrated from format version 1 to ${REDIS_FORMAT}`);
    expect(await redis.hget(`${prefix}:meta`, 'format')).toBe(String(REDIS_FORMAT));
    // The record is untouched by the move (versions so far only add fields).
    expect(await redis.hget(`${prefix}:job:j1`, 'state')).toBe('queued');

    const again = await runCli(['migrate', '--config', file, '--json'], { cwd: tmp.dir });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ found: REDIS_FORMAT, now: REDIS_FORMAT, current: true });

    await redis.hset(`${prefix}:meta`, 'format', String(REDIS_FORMAT + 2));
    for (const args of [['migrate'], ['migrate', '--check']]) {
      const refused = await runCli([...args, '--config', file], { cwd: tmp.dir });
      expect(refused.code, args.join(' ')).toBe(1);
      expect(refused.stderr).toContain('TL_ERR_STORE_TOO_NEW');
      expect(refused.stderr).toContain(`format version ${REDIS_FORMAT + 2}, newer than version ${REDIS_FORMAT}`);
    }
    expect(await redis.hget(`${prefix}:meta`, 'format')).toBe(String(REDIS_FORMAT + 2));
  }, 60_000);

  it('a store.url that is not a Redis URL exits 2 naming the setting, without touching anything', async () => {
    const file = configFile('bad-url', { engine: 'redis', url: 'http://127.0.0.1:6379', prefix });
    const r = await runCli(['migrate', '--config', file], { cwd: tmp.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('store.url');
    expect(r.stderr).toMatch(/redis:\/\//);
  });
});
