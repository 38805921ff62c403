import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventFollower } from '../../../../src/jobs/engines/redis/event-follower.js';
import { EventLog } from '../../../../src/jobs/engines/redis/event-log.js';
import type { JobEvent } from '../../../../src/jobs/types.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../../../support/redis.js';

const prefix = testPrefix('evstream');
const terminal = new Set(['succeeded', 'dead', 'cancelled']);
const isTerminal = (e: JobEvent) => terminal.has(e.type);

function ev(jobId: string, seq: number, type: JobEvent['type'] = 'progress', data: unknown = { seq }): JobEvent {
  return { jobId, seq, type, data, at: 1_700_000_000_000 + seq, attempt: 1 };
}

describe('Redis job event stream', () => {
  let redis: Redis;
  let blocking: Redis;
  let log: EventLog;
  let follower: EventFollower;
  const errors: Error[] = [];

  beforeAll(async () => {
    await requireRedis();
  });
  afterAll(async () => {
    await deleteKeys(prefix);
  });
  afterEach(async () => {
    await follower?.close();
    redis?.disconnect();
  });

  async function setup() {
    redis = new Redis(REDIS_URL);
    blocking = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    log = new EventLog(redis, prefix);
    follower = new EventFollower(
      blocking,
      redis,
      (id) => log.key(id),
      (e) => errors.push(e),
    );
  }

  it('stores events in seq order and replays from any seq', async () => {
    await setup();
    const res = await log.append([ev('a', 2), ev('a', 1), ev('b', 1), ev('a', 3, 'log', 'hello')]);
    expect(res).toEqual({ added: 4, skipped: 0 });
    expect((await log.read('a')).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(await log.read('a', 1)).toEqual([ev('a', 2), ev('a', 3, 'log', 'hello')]);
    expect(await log.read('a', 3)).toEqual([]);
    expect(await log.lastSeq('a')).toBe(3);
    expect(await log.lastSeq('nope')).toBe(0);
  });

  it('refuses a seq at or below the last stored one (a stale writer cannot rewrite history)', async () => {
    await setup();
    await log.append([ev('c', 1), ev('c', 2)]);
    const res = await log.append([ev('c', 2, 'progress', 'stale'), ev('c', 3)]);
    expect(res).toEqual({ added: 1, skipped: 1 });
    expect((await log.read('c')).map((e) => e.data)).toEqual([{ seq: 1 }, { seq: 2 }, { seq: 3 }]);
  });

  it('pages through a long stream', async () => {
    await setup();
    const batch = Array.from({ length: 1_203 }, (_, i) => ev('long', i + 1));
    await log.append(batch);
    const all = await log.read('long');
    expect(all.length).toBe(1_203);
    expect(all.every((e, i) => e.seq === i + 1)).toBe(true);
    expect((await log.read('long', 1_000, 10)).map((e) => e.seq)).toEqual([1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010]);
  });

  it('a follower gets the stored gap then live events, no hole, no duplicate, and ends on the terminal event', async () => {
    await setup();
    await log.append([ev('d', 1), ev('d', 2), ev('d', 3)]);
    const got: number[] = [];
    const done = (async () => {
      for await (const e of follower.follow('d', 1, { isTerminal })) got.push(e.seq);
    })();
    // Writers from "another process" (a separate connection) keep appending while it follows.
    const writer = new Redis(REDIS_URL);
    const wlog = new EventLog(writer, prefix);
    for (let s = 4; s <= 50; s++) await wlog.append([ev('d', s)]);
    await wlog.append([ev('d', 51, 'succeeded', { ok: true })]);
    await done;
    writer.disconnect();
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
  });

  it('many followers on several jobs at different positions join without waiting for the block to time out', async () => {
    await setup();
    const started = Date.now();
    const runs: Array<Promise<number[]>> = [];
    for (let j = 0; j < 5; j++) {
      for (const from of [0, 2]) {
        runs.push(
          (async () => {
            const seqs: number[] = [];
            for await (const e of follower.follow(`m${j}`, from, { isTerminal })) seqs.push(e.seq);
            return seqs;
          })(),
        );
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    for (let j = 0; j < 5; j++) await log.append([ev(`m${j}`, 1), ev(`m${j}`, 2), ev(`m${j}`, 3), ev(`m${j}`, 4, 'dead', {})]);
    const results = await Promise.all(runs);
    for (let j = 0; j < 5; j++) {
      expect(results[j * 2]).toEqual([1, 2, 3, 4]);
      expect(results[j * 2 + 1]).toEqual([3, 4]);
    }
    // The read blocks 5 s at a time; joining by CLIENT UNBLOCK keeps this far below that.
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('aborting a follower ends it with an AbortError and removes it', async () => {
    await setup();
    const ac = new AbortController();
    const it = follower.follow('e', 0, { isTerminal, signal: ac.signal })[Symbol.asyncIterator]();
    const next = it.next();
    setTimeout(() => ac.abort(), 50);
    await expect(next).rejects.toMatchObject({ code: 'TL_ERR_ABORTED' });
  });

  it('close() ends open followers with a store error', async () => {
    await setup();
    const it = follower.follow('f', 0, { isTerminal })[Symbol.asyncIterator]();
    const next = it.next();
    const settled = expect(next).rejects.toMatchObject({ code: 'TL_ERR_STORE_UNAVAILABLE' });
    await new Promise((r) => setTimeout(r, 50));
    await follower.close();
    await settled;
  });
});
