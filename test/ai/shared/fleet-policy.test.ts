/**
 * The failure policy on the Redis-shared AI state: two gateways on one Redis (each its own
 * connections, mirrors and breakers, as two processes would have), one provider with ONE key. A
 * 429 seen by one gateway cools only that (key, model) pair for both; a short cooldown is waited
 * out by the other; a breaker opened by one is honoured by the other; a third model is never
 * touched. And the shared state starts without a keyspace SCAN (issue #22), from a bounded registry.
 */
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../../src/index.js';
import { RedisTimers } from '../../../src/ai/shared/redis-timers.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { deleteKeys, REDIS_HOST, REDIS_PORT, REDIS_URL, requireRedis, testPrefix } from '../../support/redis.js';
import { testServer } from '../../support/runtime.js';
import { callGateway } from '../http.js';
import { ask } from '../fixtures.js';

const prefix = testPrefix('aipolicy');
let mock: MockProvider;
const open: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  await requireRedis();
});
afterEach(async () => {
  for (const t of open.splice(0).reverse()) await t.close();
  await mock?.close();
});
afterAll(async () => {
  await deleteKeys(prefix);
});

function config(url: string, p: string, ai: Record<string, unknown> = {}): ConfigInput {
  return {
    store: { engine: 'redis', url: REDIS_URL, prefix: p },
    jobs: { worker: false },
    demo: false,
    providers: { p: { type: 'openai-compatible', baseURL: `${url}/v1`, apiKeys: ['key-p0'] } },
    models: {
      r: [
        { provider: 'p', model: 'm@429:1' },
        { provider: 'p', model: 'ok-model' },
      ],
      alone: [{ provider: 'p', model: 'solo@429:1' }],
      down: [
        { provider: 'p', model: 'm@503-always' },
        { provider: 'p', model: 'ok-model' },
      ],
      third: [{ provider: 'p', model: 'third-model' }],
    },
    ai: {
      maxAttempts: 3,
      cache: { enabled: false },
      singleFlight: false,
      backoff: { baseMs: 20, maxMs: 50 },
      breaker: { failures: 2, resetMs: 5_000, maxResetMs: 10_000 },
      timeouts: { connectMs: 500, firstByteMs: 1_000, idleChunkMs: 500, totalMs: 5_000 },
      ...ai,
    },
  };
}

async function two(p: string, aiA: Record<string, unknown> = {}) {
  mock = await startMockProvider();
  const a = await testServer(config(mock.url, p, aiA));
  const b = await testServer(config(mock.url, p));
  open.push(a, b);
  await Promise.all([a.runtime.start(), b.runtime.start()]);
  return { a, b };
}

const calls = (model: string) => mock.calls.filter((c) => c.model === model);

async function thirdIsFine(url: string): Promise<void> {
  const r = await callGateway(url, ask('healthy', 'third'));
  expect(r.status).toBe(200);
  expect(r.headers.get('x-tasklane-attempts')).toBe('1');
  expect(r.headers.get('x-tasklane-waited-ms')).toBeNull();
}

describe('failure policy on the shared AI state (two gateways, one Redis)', () => {
  it('a 429 on one gateway cools only that (key, model) pair on both; the other model and the fallback answer at once', async () => {
    const { a, b } = await two(`${prefix}:cool`);
    const first = await callGateway(a.url, ask('limited', 'r'));
    expect(first.status).toBe(200);
    expect(first.headers.get('x-tasklane-model')).toBe('ok-model');
    expect(first.headers.get('x-tasklane-attempts')).toBe('2');
    // The pair reaches B through Redis: B skips it without a call (one call per key+model would succeed).
    await new Promise((r) => setTimeout(r, 150));
    const second = await callGateway(b.url, ask('limited', 'r'));
    expect(second.status).toBe(200);
    expect(second.headers.get('x-tasklane-model')).toBe('ok-model');
    expect(second.headers.get('x-tasklane-attempts')).toBe('1');
    expect(calls('m@429:1')).toHaveLength(1);
    // B's health() shows the pair A cooled.
    expect(b.runtime.ai.health().providers[0]!.keys[0]!.models).toEqual([{ model: 'm@429:1', coolingUntil: expect.any(Number) }]);
    await thirdIsFine(a.url);
    await thirdIsFine(b.url);
  });

  it('a cooldown set by one gateway is waited out by the other when nothing else can serve', async () => {
    // A answers 429 at once (no wait-out); B may wait.
    const { a, b } = await two(`${prefix}:wait`, { maxRetryAfterWaitMs: 0 });
    const first = await callGateway(a.url, ask('wait', 'alone'));
    expect(first.status).toBe(429);
    expect(first.headers.get('x-tasklane-attempts')).toBe('1');
    await new Promise((r) => setTimeout(r, 150));
    const second = await callGateway(b.url, ask('wait', 'alone'));
    expect(second.status).toBe(200);
    expect(second.headers.get('x-tasklane-attempts')).toBe('1');
    expect(Number(second.headers.get('x-tasklane-waited-ms'))).toBeGreaterThan(500);
    const solo = calls('solo@429:1');
    expect(solo).toHaveLength(2);
    expect(solo[1]!.at - solo[0]!.at).toBeGreaterThanOrEqual(990);
    await thirdIsFine(b.url);
  });

  it('a breaker opened by one gateway keeps the other off the target; the fallback serves both', async () => {
    const { a, b } = await two(`${prefix}:breaker`);
    const r = await callGateway(a.url, ask('down', 'down'));
    expect(r.status).toBe(200);
    expect(r.headers.get('x-tasklane-model')).toBe('ok-model');
    // Two failures (one retry) opened A's breaker: it is on Redis for B.
    await new Promise((res) => setTimeout(res, 150));
    const before = calls('m@503-always').length;
    const r2 = await callGateway(b.url, ask('down', 'down'));
    expect(r2.status).toBe(200);
    expect(r2.headers.get('x-tasklane-model')).toBe('ok-model');
    expect(r2.headers.get('x-tasklane-attempts')).toBe('1');
    expect(calls('m@503-always')).toHaveLength(before);
    await thirdIsFine(b.url);
  });
});

describe('no keyspace scan at start (issue #22)', () => {
  it('loads the shared AI state from its registry with one read, whatever else the Redis holds', async () => {
    const p = `${prefix}:noscan`;
    const filler = new Redis(REDIS_URL);
    // 20,000 unrelated keys under the same prefix, as a job store would hold.
    for (let i = 0; i < 20; i++) {
      const batch = filler.pipeline();
      for (let j = 0; j < 1_000; j++) batch.set(`${p}:jobs:${i}:${j}`, 'x');
      await batch.exec();
    }
    // A live cooldown the new process must load.
    const writerSub = new Redis(REDIS_URL);
    const writer = new RedisTimers({ redis: filler, subscriber: writerSub, prefix: `${p}:ai:cool` });
    await writer.start();
    await writer.extend('p:0:m:gpt-mock', Date.now() + 30_000);
    // MONITOR on a plain socket: every command Redis runs, one line each ("+<time> [db addr] "cmd" "arg"...).
    const monitor = createConnection({ host: REDIS_HOST, port: REDIS_PORT });
    await once(monitor, 'connect');
    monitor.write('MONITOR\r\n');
    const seen: string[][] = [];
    let buffered = '';
    monitor.on('data', (b: Buffer) => {
      buffered += b.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        if (!line.includes(p)) continue;
        const args = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
        if (args.length > 0) seen.push(args);
      }
    });
    await new Promise((r) => setTimeout(r, 50));
    mock = await startMockProvider();
    const t = await testServer(config(mock.url, p));
    open.push(t);
    const t0 = performance.now();
    await t.runtime.start();
    const startMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
    monitor.destroy();
    await writer.close();
    writerSub.disconnect();
    filler.disconnect();
    const names = seen.map((a) => a[0]!.toLowerCase());
    expect(names).not.toContain('scan');
    expect(names).not.toContain('keys');
    // Exactly one registry read per shared map (cooldowns, breakers).
    expect(names.filter((n) => n === 'zrangebyscore')).toHaveLength(2);
    expect(startMs).toBeLessThan(3_000);
    expect(t.runtime.ai.health().providers[0]!.keys.length).toBe(1);
    // The loaded 30 s cooldown is honoured: 429 at once, without an upstream call.
    const r = await callGateway(t.url, ask('x', 'p/gpt-mock'));
    expect(r.status).toBe(429);
    expect(r.json.error.code).toBe('TL_ERR_AI_RATE_LIMITED');
    expect(calls('gpt-mock')).toHaveLength(0);
  });

  it('keeps the registry under maxEntries (the soonest to end go first), in Redis and in the mirror', async () => {
    const redis = new Redis(REDIS_URL);
    const sub = new Redis(REDIS_URL);
    const timers = new RedisTimers({ redis, subscriber: sub, prefix: `${prefix}:cap`, maxEntries: 50 });
    let evicted = 0;
    timers.onEvict = () => evicted++;
    try {
      await timers.start();
      const now = Date.now();
      for (let i = 0; i < 200; i++) await timers.extend(`id${i}`, now + 60_000 + i);
      expect(await redis.zcard(`${prefix}:cap:reg`)).toBe(50);
      expect(await redis.zscore(`${prefix}:cap:reg`, 'id199')).not.toBeNull();
      expect(await redis.zscore(`${prefix}:cap:reg`, 'id0')).toBeNull();
      expect(timers.get('id199')).toBe(now + 60_199);
      expect(evicted).toBe(150);
    } finally {
      await timers.close();
      redis.disconnect();
      sub.disconnect();
    }
  });
});
