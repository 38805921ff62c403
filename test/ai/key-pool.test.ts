import { describe, expect, it } from 'vitest';
import { MemoryCooldownStore } from '../../src/ai/cooldown-store.js';
import { KeyPool, type KeyLease } from '../../src/ai/key-pool.js';

const lease = (x: ReturnType<KeyPool['acquire']>): KeyLease => {
  if ('reason' in x) throw new Error(`expected a key, got ${x.reason}`);
  return x;
};

describe('KeyPool', () => {
  it('rotates round-robin over healthy keys', () => {
    const pool = new KeyPool('p', ['a', 'b', 'c'], new MemoryCooldownStore());
    const order = [0, 1, 2, 3].map(() => {
      const l = lease(pool.acquire());
      l.release();
      return l.keyIndex;
    });
    expect(order).toEqual([0, 1, 2, 0]);
  });

  it('skips a cooling key until its time, and a cooldown is never shortened', () => {
    const store = new MemoryCooldownStore();
    const pool = new KeyPool('p', ['a', 'b'], store);
    const now = 1_000_000;
    pool.cool(0, now + 5_000);
    pool.cool(0, now + 1_000); // shorter: ignored
    expect(pool.coolingUntil(0)).toBe(now + 5_000);
    for (let i = 0; i < 4; i++) expect(lease(pool.acquire(undefined, now + 4_999)).keyIndex).toBe(1);
    pool.cool(1, now + 3_000);
    expect(pool.acquire(undefined, now + 2_000)).toEqual({ reason: 'cooling', retryAt: now + 3_000 });
    expect(lease(pool.acquire(undefined, now + 5_000)).keyIndex).toBe(0);
  });

  it('a pair (key, model) cools and is refused alone: the same key still serves other models', () => {
    const pool = new KeyPool('p', ['a'], new MemoryCooldownStore());
    const now = 1_000_000;
    pool.cool(0, now + 2_000, 'm1');
    expect(pool.acquire('m1', now)).toEqual({ reason: 'cooling', retryAt: now + 2_000 });
    lease(pool.acquire('m2', now)).release();
    pool.refuse(0, 'm3', now + 5_000, 'no access to m3');
    expect(pool.acquire('m3', now)).toEqual({ reason: 'refused', until: now + 5_000, message: 'no access to m3' });
    lease(pool.acquire('m2', now)).release();
    lease(pool.acquire('m3', now + 5_000)).release();
    const h = pool.health(now)[0]!;
    expect(h.coolingUntil).toBeUndefined();
    expect(h.models).toEqual(
      expect.arrayContaining([
        { model: 'm1', coolingUntil: now + 2_000 },
        { model: 'm3', refusedUntil: now + 5_000, refusedReason: 'no access to m3' },
      ]),
    );
  });

  it('bounds its per-pair maps, evicting the least recently used and counting it', () => {
    let evicted = 0;
    const pool = new KeyPool('p', ['a'], new MemoryCooldownStore({ max: 5 }), { maxPairs: 5, onEvict: () => evicted++ });
    for (let i = 0; i < 20; i++) pool.refuse(0, `m${i}`, Date.now() + 60_000, 'no');
    expect(pool.health()[0]!.models).toHaveLength(5);
    expect(evicted).toBe(15);
  });

  it('disables a refused key for good and says so when none is left', () => {
    const pool = new KeyPool('p', ['a', 'b'], new MemoryCooldownStore());
    expect(pool.disable(1, '401')).toBe(true);
    expect(pool.disable(1, '401')).toBe(false);
    for (let i = 0; i < 3; i++) expect(lease(pool.acquire()).keyIndex).toBe(0);
    pool.disable(0, '403');
    expect(pool.acquire()).toEqual({ reason: 'disabled' });
    expect(pool.health().map((k) => k.disabled)).toEqual([true, true]);
  });

  it('holds each key to its concurrency and wakes a waiter on release', async () => {
    const pool = new KeyPool('p', ['a'], new MemoryCooldownStore(), 2);
    const a = lease(pool.acquire());
    const b = lease(pool.acquire());
    expect(pool.acquire()).toEqual({ reason: 'busy' });
    const ac = new AbortController();
    const woke = pool.waitForSlot(ac.signal);
    a.release();
    a.release(); // twice is harmless
    await woke;
    const c = lease(pool.acquire());
    expect(pool.acquire()).toEqual({ reason: 'busy' });
    b.release();
    c.release();
    expect(pool.health()[0]!.inFlight).toBe(0);
  });

  it('gives a keyless provider one slot without a key', () => {
    const pool = new KeyPool('local', [], new MemoryCooldownStore());
    const l = lease(pool.acquire());
    expect(l.keyIndex).toBe(0);
    expect(l.apiKey).toBeUndefined();
  });
});
