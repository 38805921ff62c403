import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { testServer } from '../support/runtime.js';
import { callGateway } from './http.js';

/**
 * Bounded cardinality (issue #21 point 2): a client names `provider/model` only for models the
 * provider declares (or with `anyModel: true`); metric labels of undeclared models are `other`;
 * the per-(key, model) and per-target maps are capped (LRU) and count their evictions. 10,000
 * made-up model names leave the /metrics series count within a stated bound, and the heap and RSS
 * flat (bounded growth) once the capped maps are full.
 */

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

/** Series = sample lines of the Prometheus text (not comments). */
async function series(url: string): Promise<string[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split('\n').filter((l) => l && !l.startsWith('#'));
}

/** At most this many series may appear for any number of made-up names (each metric's `other` children). */
const NEW_SERIES_BOUND = 80;
/**
 * Memory growth allowed over 8,000 made-up names once the capped maps are full. Measured on this
 * machine: capped (maxTrackedPairs 500) the heap grows about 2 MiB and RSS about 25 MiB; with
 * the caps lifted (1,000,000) the heap grows about 9 MiB and RSS about 43 MiB. The heap bound is
 * the tight check; RSS, which keeps pages the allocator once used, gets a looser one.
 */
const HEAP_GROWTH_BOUND_MIB = 5;
const RSS_GROWTH_BOUND_MIB = 48;

/** Heap used and RSS after a full collection (the same process serves and measures). */
function settledMemory(): { heap: number; rss: number } {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

describe('bounded cardinality', () => {
  it('a provider that declares its models refuses other names with a 404 before any call', async () => {
    mock = await startMockProvider();
    t = await testServer({
      providers: { p: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k'], models: ['gpt-mock'] } },
      models: { fast: [{ provider: 'p', model: 'routed' }] },
    });
    const ok = await callGateway(t.url, { model: 'p/gpt-mock', messages: [{ role: 'user', content: 'hi' }] });
    expect(ok.status).toBe(200);
    // A model a route names counts as declared.
    expect((await callGateway(t.url, { model: 'p/routed', messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
    const aiSeries = async () => (await series(t!.url)).filter((l) => l.startsWith('tasklane_ai_'));
    const before = await aiSeries();
    for (let i = 0; i < 200; i++) {
      const r = await callGateway(t.url, { model: `p/made-up-${i}`, messages: [{ role: 'user', content: 'hi' }] });
      expect(r.status).toBe(404);
      expect(r.json.error.code).toBe('TL_ERR_AI_UNKNOWN_MODEL');
      if (i === 0) expect(r.json.error.message).toContain('anyModel');
    }
    expect(mock.calls.filter((c) => c.model?.startsWith('made-up'))).toHaveLength(0);
    // Not one AI series more (HTTP 404 counters appear once, whatever the names).
    expect((await aiSeries()).length).toBe(before.length);
  });

  it('anyModel: 10,000 made-up names (answers, 429s, 403s) leave the series count bounded; the maps evict and count it', async () => {
    mock = await startMockProvider();
    t = await testServer({
      providers: { p: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k'], models: ['gpt-mock'], anyModel: true } },
      ai: {
        cache: { enabled: false },
        singleFlight: false,
        maxTrackedPairs: 500,
        maxRetryAfterWaitMs: 0,
        maxAttempts: 1,
        breaker: { failures: 1_000, resetMs: 1_000 },
      },
    });
    const ai = t.runtime.ai;
    await ai.chat({ model: 'p/gpt-mock', messages: [{ role: 'user', content: 'warm up' }] });
    const before = await series(t.url);
    const N = 10_000;
    let next = 0;
    const faults = ['', '@429', '@403', '@503-always'];
    const callsUpTo = async (n: number) => {
      const worker = async () => {
        while (next < n) {
          const i = next++;
          await ai
            .chat({ model: `p/made-up-${i}${faults[i % faults.length]}`, messages: [{ role: 'user', content: 'x' }] })
            .catch(() => {});
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      // The mock's own record of calls is this test's memory, not the server's: counted, then dropped.
      const made = mock.calls.filter((c) => c.model?.startsWith('made-up')).length;
      mock.reset();
      return made;
    };
    // The first 2,000 names fill every capped map; the other 8,000 must not grow the process.
    let made = await callsUpTo(2_000);
    const mem0 = settledMemory();
    made += await callsUpTo(N);
    const mem1 = settledMemory();
    expect(made).toBe(N);
    const grownMiB = { heap: (mem1.heap - mem0.heap) / 2 ** 20, rss: (mem1.rss - mem0.rss) / 2 ** 20 };
    expect(grownMiB.heap, `heap grew by ${grownMiB.heap.toFixed(1)} MiB over 8,000 new names`).toBeLessThan(HEAP_GROWTH_BOUND_MIB);
    expect(grownMiB.rss, `RSS grew by ${grownMiB.rss.toFixed(1)} MiB over 8,000 new names`).toBeLessThan(RSS_GROWTH_BOUND_MIB);
    const after = await series(t.url);
    expect(after.length - before.length).toBeLessThanOrEqual(NEW_SERIES_BOUND);
    const text = after.join('\n');
    expect(text).not.toContain('made-up');
    expect(text).toMatch(/tasklane_ai_requests_total\{provider="p",model="other",key_index="0"\} 2500/);
    const evicted = (map: string) => Number(new RegExp(`tasklane_ai_state_evictions_total\\{map="${map}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    expect(evicted('cooldowns')).toBeGreaterThan(0);
    expect(evicted('refusals')).toBeGreaterThan(0);
    expect(evicted('breakers')).toBeGreaterThan(0);
    // The maps themselves stay at their cap.
    const k = ai.health().providers[0]!.keys[0]!;
    expect(k.models.length).toBeLessThanOrEqual(1_000);
    expect(ai.health().breakers.length).toBeLessThanOrEqual(500);
  }, 120_000);
});
