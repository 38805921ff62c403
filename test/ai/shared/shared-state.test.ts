/**
 * Two runtimes on one Redis (each its own connections and mirrors, as two processes would have):
 * one answer cache for both with `ai.cache.backend: "redis"`, and a clear ConfigError when the
 * Redis cache is asked for without a Redis store.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../../src/index.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../../support/redis.js';
import { testRuntime, type TestRuntime } from '../../support/runtime.js';

const prefix = testPrefix('aicache');
let mock: MockProvider;
const open: TestRuntime[] = [];

beforeAll(async () => {
  await requireRedis();
  mock = await startMockProvider();
});
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});
afterAll(async () => {
  await mock.close();
  await deleteKeys(prefix);
});

function config(): ConfigInput {
  return {
    store: { engine: 'redis', url: REDIS_URL, prefix },
    jobs: { worker: false },
    providers: { mock: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k'] } },
    models: { m: [{ provider: 'mock', model: 'gpt-mock' }] },
    ai: { cache: { enabled: true, mode: 'all', backend: 'redis', ttlMs: 60_000 } },
  };
}

describe('shared AI state on Redis', () => {
  it('an answer cached by one runtime is served from cache by another', async () => {
    const a = await testRuntime(config());
    const b = await testRuntime(config());
    open.push(a, b);
    await Promise.all([a.runtime.start(), b.runtime.start()]);
    const request = { model: 'm', messages: [{ role: 'user' as const, content: 'the same question' }] };
    const first = await a.runtime.ai.chat(request);
    expect(first.meta.cache).toBe('miss');
    const calls = mock.calls.length;
    // The write to Redis is in the background of the first answer: allow it a moment.
    let second = await b.runtime.ai.chat(request);
    for (let i = 0; i < 20 && second.meta.cache !== 'hit'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      second = await b.runtime.ai.chat(request);
    }
    expect(second.meta.cache).toBe('hit');
    expect(second.completion.choices).toEqual(first.completion.choices);
    expect(mock.calls.length).toBeLessThanOrEqual(calls + 1);
  });

  it('refuses a Redis cache without a Redis store, naming the settings', async () => {
    await expect(testRuntime({ ai: { cache: { backend: 'redis' } } })).rejects.toMatchObject({
      code: 'TL_ERR_CONFIG_INVALID',
      message: expect.stringMatching(/ai\.cache\.backend.*store\.engine/),
    });
  });
});
