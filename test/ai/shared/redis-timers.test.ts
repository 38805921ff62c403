import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisTimers } from '../../../src/ai/shared/redis-timers.js';
import { RedisResponseCache } from '../../../src/ai/shared/redis-cache.js';
import { RedisCooldownStore } from '../../../src/ai/shared/redis-cooldown-store.js';
import { RedisBreakerBoard } from '../../../src/ai/shared/redis-breaker-board.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../../support/redis.js';

const prefix = testPrefix('aishared');

/** Two "processes": separate connections and mirrors on the same Redis. */
async function pair(name: string) {
  const conns: Redis[] = [];
  const make = async () => {
    const redis = new Redis(REDIS_URL);
    const sub = new Redis(REDIS_URL);
    conns.push(redis, sub);
    const t = new RedisTimers({ redis, subscriber: sub, prefix: `${prefix}:${name}` });
    await t.start();
    return t;
  };
  const a = await make();
  const b = await make();
  return {
    a,
    b,
    make,
    close: async () => {
      await a.close();
      await b.close();
      for (const c of conns) c.disconnect();
    },
  };
}

async function until(check: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('RedisTimers (shared cooldowns and breaker deadlines)', () => {
  beforeAll(async () => {
    await requireRedis();
  });
  afterAll(async () => {
    await deleteKeys(prefix);
  });

  it('a deadline set by one process is honoured by another, and the later one wins', async () => {
    const { a, b, make, close } = await pair('cool');
    try {
      const until1 = Date.now() + 5_000;
      await a.extend('groq:0', until1);
      expect(a.get('groq:0')).toBe(until1);
      await until(() => b.get('groq:0') === until1);
      // An earlier deadline never shortens a cooldown.
      await b.extend('groq:0', until1 - 2_000);
      expect(b.get('groq:0')).toBe(until1);
      const until2 = until1 + 3_000;
      await b.extend('groq:0', until2);
      await until(() => a.get('groq:0') === until2);
      // A process that starts late loads the live deadline.
      const late = await make();
      expect(late.get('groq:0')).toBe(until2);
      expect(late.get('groq:1')).toBeUndefined();
      await late.close();
      // Clearing reaches everyone.
      await a.clear('groq:0');
      await until(() => b.get('groq:0') === undefined);
    } finally {
      await close();
    }
  });

  it('a deadline expires by itself, in the mirror and in Redis', async () => {
    const { a, b, close } = await pair('exp');
    try {
      await a.extend('p:1', Date.now() + 150);
      await until(() => b.get('p:1') !== undefined);
      await new Promise((r) => setTimeout(r, 250));
      expect(a.get('p:1')).toBeUndefined();
      expect(b.get('p:1')).toBeUndefined();
      const probe = new Redis(REDIS_URL);
      // The registry expires with its last deadline.
      expect(await probe.exists(`${prefix}:exp:reg`)).toBe(0);
      probe.disconnect();
    } finally {
      await close();
    }
  });
});

describe('RedisCooldownStore and RedisBreakerBoard', () => {
  it('a cooldown or an open breaker set in one process is seen by the other', async () => {
    await requireRedis();
    const { a, b, close } = await pair('stores');
    try {
      const ca = new RedisCooldownStore(a);
      const cb = new RedisCooldownStore(b);
      const until1 = Date.now() + 4_000;
      ca.extend('groq', 1, until1);
      expect(ca.get('groq', 1)).toBe(until1); // synchronous for the caller
      await until(() => cb.get('groq', 1) === until1);
      expect(cb.get('groq', 0)).toBe(0);
      const ba = new RedisBreakerBoard(a);
      const bb = new RedisBreakerBoard(b);
      ba.open('groq/llama', until1);
      await until(() => bb.openUntil('groq/llama') === until1);
      bb.close('groq/llama');
      await until(() => ba.openUntil('groq/llama') === 0);
    } finally {
      await close();
    }
  });
});

describe('RedisResponseCache', () => {
  it('shares entries between processes and expires them', async () => {
    await requireRedis();
    const r1 = new Redis(REDIS_URL);
    const r2 = new Redis(REDIS_URL);
    try {
      const c1 = new RedisResponseCache<{ text: string }>({ redis: r1, prefix: `${prefix}:cache`, ttlMs: 10_000 });
      const c2 = new RedisResponseCache<{ text: string }>({ redis: r2, prefix: `${prefix}:cache`, ttlMs: 10_000 });
      await c1.set('h1', { text: 'hi' });
      expect(await c2.get('h1')).toEqual({ text: 'hi' });
      await c1.set('h2', { text: 'short' }, 100);
      await new Promise((r) => setTimeout(r, 200));
      expect(await c2.get('h2')).toBeUndefined();
      await c2.delete('h1');
      expect(await c1.get('h1')).toBeUndefined();
      await c1.set('h3', { text: 'x' });
      await c2.clear();
      expect(await c1.get('h3')).toBeUndefined();
    } finally {
      r1.disconnect();
      r2.disconnect();
    }
  });

  it('treats a Redis failure as a miss and reports it', async () => {
    const dead = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    dead.on('error', () => {});
    const errors: Error[] = [];
    const c = new RedisResponseCache({ redis: dead, prefix: 'x', ttlMs: 1_000, onError: (e) => errors.push(e) });
    expect(await c.get('k')).toBeUndefined();
    await c.set('k', 1);
    expect(errors.length).toBe(2);
    dead.disconnect();
  });
});
