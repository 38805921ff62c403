/**
 * Issue #16, point 2: the response cache is opt-in (`ai.cache.enabled`, default false); when on it
 * keeps only deterministic requests (temperature 0, or a seed) or those marked cacheable, unless
 * `ai.cache.mode: "all"`; `cache-control: no-cache` opts out; a cached stream replays in the
 * chunks it first came in. Real runtime, real HTTP to the fault-injecting mock upstream.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { testRuntime, testServer, type TestRuntime } from '../support/runtime.js';
import { aiConfig, ask, collect } from './fixtures.js';

let mock: MockProvider | undefined;
let t: TestRuntime | undefined;

afterEach(async () => {
  await t?.close();
  await mock?.close();
  t = undefined;
  mock = undefined;
});

async function runtimeWith(cache: Record<string, unknown> | undefined) {
  mock = await startMockProvider();
  const config = aiConfig(mock.url);
  // aiConfig turns the cache on for older scenarios; here each test states its own.
  const ai = { ...(config.ai as Record<string, unknown>) };
  if (cache) ai.cache = cache;
  else delete ai.cache;
  t = await testRuntime({ ...config, ai: ai as never });
  return t.runtime.ai;
}

const twice = async (ai: Awaited<ReturnType<typeof runtimeWith>>, req: Record<string, unknown>, opts: Record<string, unknown> = {}) => {
  const request = { ...ask('same question'), ...req };
  const a = await ai.chat(request as never, opts);
  const b = await ai.chat(request as never, opts);
  return [a.meta.cache, b.meta.cache];
};

describe('the response cache is opt-in', () => {
  it('is off by default: a repeated deterministic request goes upstream twice', async () => {
    const ai = await runtimeWith(undefined);
    expect(t!.runtime.config.ai.cache).toMatchObject({ enabled: false, mode: 'deterministic' });
    expect(await twice(ai, { temperature: 0 })).toEqual(['bypass', 'bypass']);
    expect(mock!.calls).toHaveLength(2);
  });

  it('when on, keeps temperature 0 and seeded requests, skips temperature 1.2 unless marked cacheable, and honours noCache', async () => {
    const ai = await runtimeWith({ enabled: true });
    expect(await twice(ai, { temperature: 1.2 })).toEqual(['bypass', 'bypass']);
    expect(await twice(ai, {})).toEqual(['bypass', 'bypass']);
    expect(mock!.calls).toHaveLength(4);
    expect(await twice(ai, { temperature: 0 })).toEqual(['miss', 'hit']);
    expect(await twice(ai, { temperature: 0.7, seed: 7 })).toEqual(['miss', 'hit']);
    expect(await twice(ai, { temperature: 1.2, messages: [{ role: 'user', content: 'marked' }] }, { cacheable: true })).toEqual([
      'miss',
      'hit',
    ]);
    expect(mock!.calls).toHaveLength(7);
    // Opting out: neither served from the cache nor stored.
    expect(await twice(ai, { temperature: 0, messages: [{ role: 'user', content: 'opt out' }] }, { noCache: true })).toEqual([
      'bypass',
      'bypass',
    ]);
    expect((await ai.chat({ ...ask('opt out'), temperature: 0 })).meta.cache).toBe('miss');
  });

  it('mode "all" keeps every request', async () => {
    const ai = await runtimeWith({ enabled: true, mode: 'all' });
    expect(await twice(ai, { temperature: 1.2 })).toEqual(['miss', 'hit']);
    expect(mock!.calls).toHaveLength(1);
  });

  it('replays a cached stream in the chunks it first came in, then usage when asked', async () => {
    const ai = await runtimeWith({ enabled: true });
    const request = {
      ...ask('a fairly long answer please, in many words'),
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    };
    const first = await collect(ai.stream(request));
    expect(first.error).toBeUndefined();
    const content = (chunks: unknown[]) => chunks.filter((c) => (c as { choices: unknown[] }).choices.length > 0);
    expect(content(first.chunks).length).toBeGreaterThan(3);
    const calls = mock!.calls.length;
    const again = await ai.openStream(request);
    expect(again.meta.cache).toBe('hit');
    const replay = await collect(again.chunks);
    expect(mock!.calls.length).toBe(calls);
    expect(content(replay.chunks)).toEqual(content(first.chunks));
    expect(replay.text).toBe(first.text);
    expect(replay.chunks.at(-1)).toMatchObject({ choices: [], usage: expect.objectContaining({ total_tokens: expect.any(Number) }) });
  });
});

describe('over HTTP', () => {
  it('x-tasklane-cache: on marks a request cacheable; cache-control: no-cache opts out', async () => {
    mock = await startMockProvider();
    const config = aiConfig(mock.url);
    t = await testServer({ ...config, ai: { ...(config.ai as object), cache: { enabled: true } } as never });
    const url = `${(t as TestRuntime & { url: string }).url}/v1/chat/completions`;
    const post = async (headers: Record<string, string>, content = 'over http') => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ ...ask(content), temperature: 1.2 }),
      });
      expect(res.status).toBe(200);
      await res.json();
      return res.headers.get('x-tasklane-cache');
    };
    expect([await post({}), await post({})]).toEqual(['bypass', 'bypass']);
    expect([await post({ 'x-tasklane-cache': 'on' }), await post({ 'x-tasklane-cache': 'on' })]).toEqual(['miss', 'hit']);
    expect(await post({ 'x-tasklane-cache': 'on', 'cache-control': 'no-cache' })).toBe('bypass');
  });
});
