import { afterEach, describe, expect, it } from 'vitest';
import { orderTargets } from '../../../src/ai/strategies/order.js';
import { LATENCY_ALPHA, TargetStats } from '../../../src/ai/strategies/target-stats.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testRuntime } from '../../support/runtime.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testRuntime>> | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

/** Two providers on the mock, told apart by their key (k-a, k-b); `models.r` is the route under test. */
async function runtimeWith(route: Record<string, unknown>, ai: Record<string, unknown> = {}) {
  mock = await startMockProvider({ chunkDelayMs: 0, slowMs: 150 });
  t = await testRuntime({
    providers: {
      a: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k-a'] },
      b: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k-b'] },
    },
    models: { r: route },
    ai: { backoff: { baseMs: 1, maxMs: 5 }, breaker: { failures: 2, resetMs: 60_000 }, ...ai },
  } as never);
  return t.runtime;
}

let n = 0;
const ask = (rt: Awaited<ReturnType<typeof runtimeWith>>, stream = false) => {
  const req = { model: 'r', messages: [{ role: 'user' as const, content: `q${n++}` }] };
  return stream
    ? rt.ai.openStream(req).then(async (s) => {
        for await (const _ of s.chunks);
        return s.meta;
      })
    : rt.ai.chat(req).then((r) => r.meta);
};
const byKey = (key: string) => mock.calls.filter((c) => c.key === key).length;

describe('orderTargets (pure)', () => {
  it('keeps route order for ordered, ranks least-busy by calls in flight and latency by the moving average', () => {
    const targets = [{ id: 'a/m' }, { id: 'b/m' }, { id: 'c/m' }];
    const stats = new TargetStats();
    expect(orderTargets('ordered', targets, stats)).toBe(targets);
    stats.begin('a/m');
    stats.begin('a/m');
    stats.begin('c/m');
    expect(orderTargets('least-busy', targets, stats, () => 0.5).map((t) => t.id)).toEqual(['b/m', 'c/m', 'a/m']);
    stats.observe('a/m', 100);
    stats.observe('b/m', 50);
    stats.observe('c/m', 10);
    stats.observe('c/m', 210);
    // c: 0.3 × 210 + 0.7 × 10 = 70
    expect(stats.ttftMs('c/m')).toBeCloseTo(LATENCY_ALPHA * 210 + (1 - LATENCY_ALPHA) * 10, 9);
    expect(orderTargets('latency', targets, stats, () => 0.9).map((t) => t.id)).toEqual(['b/m', 'c/m', 'a/m']);
  });
});

describe('route strategies through the mock provider', () => {
  it('weighted: shares calls by weight within a tolerance over 400 calls', async () => {
    const rt = await runtimeWith({
      strategy: 'weighted',
      targets: [
        { provider: 'a', model: 'gpt-mock', weight: 3 },
        { provider: 'b', model: 'gpt-mock', weight: 1 },
      ],
    });
    const N = 400;
    for (let i = 0; i < N; i++) await ask(rt);
    // Binomial(400, 0.75): sd ≈ 8.7 calls; 5 sd either side.
    expect(byKey('k-a')).toBeGreaterThan(0.75 * N - 45);
    expect(byKey('k-a')).toBeLessThan(0.75 * N + 45);
    expect(byKey('k-a') + byKey('k-b')).toBe(N);
  });

  it('latency: moves away from a target slow to its first token', async () => {
    const rt = await runtimeWith({
      strategy: 'latency',
      targets: [
        { provider: 'a', model: 'gpt-mock@slow-first' },
        { provider: 'b', model: 'gpt-mock' },
      ],
    });
    // Each target is measured once first (no sample = tried first), then the fast one wins.
    for (let i = 0; i < 4; i++) await ask(rt, true);
    mock.reset();
    for (let i = 0; i < 40; i++) await ask(rt, i % 2 === 0);
    // 5 % of calls explore in random order (half of those land on the slow one).
    expect(byKey('k-a')).toBeLessThanOrEqual(6);
    expect(byKey('k-b')).toBeGreaterThanOrEqual(34);
  });

  it('least-busy: concurrent calls spread over both targets', async () => {
    const rt = await runtimeWith({
      strategy: 'least-busy',
      targets: [
        { provider: 'a', model: 'gpt-mock@slow-first' },
        { provider: 'b', model: 'gpt-mock@slow-first' },
      ],
    });
    await Promise.all(Array.from({ length: 10 }, () => ask(rt)));
    expect(Math.abs(byKey('k-a') - byKey('k-b'))).toBeLessThanOrEqual(2);
  });

  for (const strategy of ['weighted', 'least-busy', 'latency'] as const) {
    it(`${strategy}: never chooses a cooling pair or an open breaker`, async () => {
      const rt = await runtimeWith(
        {
          strategy,
          targets: [
            // a is preferred by weight; it answers 429 with a long Retry-After.
            { provider: 'a', model: 'gpt-mock@429-always:60', weight: 50 },
            { provider: 'b', model: 'gpt-mock', weight: 1 },
          ],
        },
        { maxRetryAfterWaitMs: 0 },
      );
      for (let i = 0; i < 20; i++) expect((await ask(rt)).provider).toBe('b');
      // At most the one call that found the 429.
      expect(byKey('k-a')).toBeLessThanOrEqual(1);
      await t!.close();
      await mock.close();
      t = undefined;

      const rt2 = await runtimeWith({
        strategy,
        targets: [
          { provider: 'a', model: 'gpt-mock@503-always', weight: 50, retries: 0 },
          { provider: 'b', model: 'gpt-mock', weight: 1 },
        ],
      });
      for (let i = 0; i < 30; i++) expect((await ask(rt2)).provider).toBe('b');
      // breaker.failures = 2: after two 503s the breaker is open (resetMs 60 s) and a is never called.
      expect(byKey('k-a')).toBeLessThanOrEqual(2);
      expect(rt2.ai.health().breakers.find((b) => b.target === 'a/gpt-mock@503-always')?.state).toBe('open');
    });
  }
});
