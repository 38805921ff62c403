import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { aiConfig, ask, collect } from './fixtures.js';

let mock: MockProvider;
let t: TestRuntime;

async function setup(over: Parameters<typeof aiConfig>[1] = {}) {
  mock = await startMockProvider();
  t = await testRuntime(aiConfig(mock.url, over));
  return t.runtime.ai;
}

afterEach(async () => {
  await t?.close();
  await mock?.close();
});

describe('Orchestrator: answers and meta', () => {
  it('answers through the first target and says who served it', async () => {
    const ai = await setup();
    const { completion, meta } = await ai.chat(ask('hello'));
    expect(completion.choices[0]!.message.content).toContain('hello');
    expect(meta).toMatchObject({ provider: 'a', model: 'gpt-mock', attempts: 1, cache: 'miss' });
    expect([0, 1]).toContain(meta.keyIndex);
    expect(meta.usage?.total_tokens).toBeGreaterThan(0);
    expect(meta.latencyMs).toBeGreaterThanOrEqual(0);
    // The upstream call ran in the `ai` lane.
    expect(t.runtime.lanes.stats().ai!.completed).toBe(1);
  });

  it('streams the same text with a finish and, when asked, a usage chunk', async () => {
    const ai = await setup();
    const r = await collect(ai.stream({ ...ask('stream me'), stream: true, stream_options: { include_usage: true } }));
    expect(r.error).toBeUndefined();
    expect(r.text).toContain('stream me');
    expect(r.finish).toBe('stop');
    expect((r.chunks.at(-1) as { usage?: { total_tokens: number } }).usage?.total_tokens).toBeGreaterThan(0);
    const plain = await collect(ai.stream({ ...ask('no usage'), stream: true }));
    expect(plain.chunks.some((c) => (c as { usage?: unknown }).usage)).toBe(false);
  });

  it('serves provider/model directly and rejects unknown models and bad requests', async () => {
    const ai = await setup();
    const { meta } = await ai.chat(ask('direct', 'b/gpt-mock'));
    expect(meta.provider).toBe('b');
    await expect(ai.chat(ask('x', 'nope'))).rejects.toMatchObject({ code: 'TL_ERR_AI_UNKNOWN_MODEL', httpStatus: 404 });
    await expect(ai.chat({ model: 'chat', messages: [] })).rejects.toMatchObject({ code: 'TL_ERR_VALIDATION' });
    expect(ai.models()).toEqual([
      {
        id: 'chat',
        targets: [
          { provider: 'a', model: 'gpt-mock' },
          { provider: 'b', model: 'gpt-mock' },
        ],
      },
    ]);
  });
});

describe('Orchestrator: cache', () => {
  it('serves a repeated request from cache, bypasses it on noCache, and replays a cached stream', async () => {
    const ai = await setup();
    const first = await ai.chat(ask('cache me'));
    const second = await ai.chat(ask('cache me'));
    expect(second.meta.cache).toBe('hit');
    expect(second.completion.choices[0]!.message.content).toBe(first.completion.choices[0]!.message.content);
    expect(mock.calls.length).toBe(1);
    const bypass = await ai.chat(ask('cache me'), { noCache: true });
    expect(bypass.meta.cache).toBe('bypass');
    expect(mock.calls.length).toBe(2);
    // A streamed answer is cached when complete and replayed as a stream (and serves a plain call).
    const s1 = await collect(ai.stream({ ...ask('stream cache'), stream: true }));
    const calls = mock.calls.length;
    const s2 = await ai.openStream({ ...ask('stream cache'), stream: true });
    expect(s2.meta.cache).toBe('hit');
    const replayed = await collect(s2.chunks);
    expect(replayed.text).toBe(s1.text);
    expect(replayed.finish).toBe('stop');
    expect((await ai.chat(ask('stream cache'))).meta.cache).toBe('hit');
    expect(mock.calls.length).toBe(calls);
  });

  it('never caches an error or a broken stream', async () => {
    const ai = await setup({
      models: { solo: [{ provider: 'a', model: 'gpt-mock@context-length' }], cut: [{ provider: 'a', model: 'gpt-mock@cut' }] },
    });
    await expect(ai.chat(ask('too long', 'solo'))).rejects.toMatchObject({ code: 'TL_ERR_AI_CONTEXT_LENGTH' });
    await expect(ai.chat(ask('too long', 'solo'))).rejects.toMatchObject({ code: 'TL_ERR_AI_CONTEXT_LENGTH' });
    const broken = await collect(ai.stream({ ...ask('cut me', 'cut'), stream: true }));
    expect(broken.error).toBeDefined();
    const again = await ai.openStream({ ...ask('cut me', 'cut'), stream: true }).catch((e) => e);
    if (!(again instanceof Error)) {
      expect(again.meta.cache).toBe('miss');
      await collect(again.chunks);
    }
    expect(mock.calls.filter((c) => c.model === 'gpt-mock@context-length')).toHaveLength(2);
  });
});

describe('Orchestrator: single-flight', () => {
  it('sends 10 identical concurrent calls upstream once', async () => {
    const ai = await setup();
    const results = await Promise.all(Array.from({ length: 10 }, () => ai.chat(ask('together'), { noCache: true })));
    expect(new Set(results.map((r) => r.completion.choices[0]!.message.content)).size).toBe(1);
    expect(mock.calls.length).toBe(1);
  });

  it('fans one upstream stream out to every identical concurrent stream', async () => {
    const ai = await setup();
    const runs = await Promise.all(
      Array.from({ length: 5 }, () => collect(ai.stream({ ...ask('fan out'), stream: true }, { noCache: true }))),
    );
    for (const r of runs) {
      expect(r.error).toBeUndefined();
      expect(r.text).toBe(runs[0]!.text);
    }
    expect(mock.calls.length).toBe(1);
  });

  it('keeps the shared call going while one caller leaves, aborts it when the last leaves', async () => {
    const ai = await setup({
      models: { slow: [{ provider: 'a', model: 'gpt-mock@hang' }] },
      ai: { timeouts: { firstByteMs: 10_000, totalMs: 20_000 } },
    });
    const a = new AbortController();
    const b = new AbortController();
    const pa = ai.chat(ask('wait', 'slow'), { signal: a.signal });
    const pb = ai.chat(ask('wait', 'slow'), { signal: b.signal });
    await waitFor(() => mock.calls.length === 1);
    a.abort();
    await expect(pa).rejects.toMatchObject({ code: 'TL_ERR_ABORTED' });
    await new Promise((r) => setTimeout(r, 50));
    expect(mock.calls[0]!.aborted).toBeFalsy();
    b.abort();
    await expect(pb).rejects.toMatchObject({ code: 'TL_ERR_ABORTED' });
    await waitFor(() => mock.calls[0]!.aborted === true);
  });
});

describe('Orchestrator: single-flight off', () => {
  it('sends each identical call upstream, and close() still aborts calls in flight', async () => {
    const ai = await setup({
      ai: { singleFlight: false, cache: { enabled: false } },
      models: { slow: [{ provider: 'a', model: 'gpt-mock@hang' }] },
    });
    await Promise.all([0, 1, 2].map(() => ai.chat(ask('each'))));
    expect(mock.calls).toHaveLength(3);
    const pending = ai.chat(ask('stuck', 'slow')).catch((e) => e);
    await waitFor(() => mock.calls.length === 4);
    const t0 = performance.now();
    const report = await t.runtime.close();
    expect(report.timedOut).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(3_000);
    expect(await pending).toMatchObject({ code: 'TL_ERR_RUNTIME_CLOSED' });
  });
});

describe('Orchestrator: health and close', () => {
  it('reports keys and breakers, and rejects calls after close', async () => {
    const ai = await setup();
    await ai.chat(ask('hi'));
    const h = ai.health();
    expect(h.providers.map((p) => [p.name, p.keys.length])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    expect(JSON.stringify(h)).not.toContain('key-a0');
    await t.runtime.close();
    await expect(ai.chat(ask('late'))).rejects.toMatchObject({ code: 'TL_ERR_RUNTIME_CLOSED' });
  });
});

export async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
