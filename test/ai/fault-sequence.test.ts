import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/index.js';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../support/redis.js';
import { testServer } from '../support/runtime.js';

/**
 * The new-user run of issue #12, through the official `openai` client: one OpenAI-compatible
 * provider, ONE key, one alias per fault `[primary, ok-model]` on that same provider, maxAttempts 3,
 * cache and single-flight off. Every fault runs back to back, plain and streamed, and each is
 * followed by a healthy call to a third model that must succeed at once (one attempt, no wait):
 * the test that would have caught the key-wide cooldown. Then an outage: the primary down for a
 * while, answered via the fallback throughout, back on the primary soon after it recovers.
 * All of it twice: on one gateway with its state in memory, and on two gateways sharing one Redis
 * (the calls alternate between them; the healthy third model is asked on both).
 */

interface Scenario {
  name: string;
  fault: string;
  /** What the caller gets: the whole answer from this model, or a clean error with this status. */
  expect: { model: string } | { status: number; code: string };
  /** Streamed only (the fault lives in the stream). */
  streamOnly?: boolean;
  target?: Record<string, unknown>;
  fallback?: Record<string, unknown>;
}

const SCENARIOS: Scenario[] = [
  { name: '429 once, Retry-After 2', fault: '429:2', expect: { model: 'ok-model' } },
  { name: 'persistent 429', fault: '429-always', expect: { model: 'ok-model' } },
  { name: '500 once', fault: '500-once', expect: { model: 'self' } },
  { name: 'persistent 503', fault: '503-always', expect: { model: 'ok-model' } },
  { name: 'TCP reset', fault: 'reset', expect: { model: 'ok-model' } },
  { name: 'silent upstream', fault: 'hang', expect: { model: 'ok-model' } },
  { name: 'slow first token (inside firstByteMs)', fault: 'slow-first:300', expect: { model: 'self' } },
  { name: 'stream cut mid-answer', fault: 'cut', expect: { model: 'ok-model' }, streamOnly: true },
  { name: 'stalled stream', fault: 'stall', expect: { model: 'ok-model' }, streamOnly: true },
  { name: 'one malformed SSE event', fault: 'malformed', expect: { model: 'self' }, streamOnly: true },
  { name: 'stream without [DONE]', fault: 'no-done', expect: { model: 'self' }, streamOnly: true },
  {
    name: 'context-length 400',
    fault: 'context-length',
    expect: { model: 'ok-model' },
    target: { contextWindow: 8_192 },
    fallback: { contextWindow: 128_000 },
  },
  { name: 'content-filter 400', fault: 'content-filter', expect: { status: 400, code: 'TL_ERR_AI_CONTENT_FILTER' } },
];

function config(url: string, redisPrefix?: string): ConfigInput {
  const models: NonNullable<ConfigInput['models']> = {
    third: [{ provider: 'p', model: 'third-model' }],
    outage: [
      { provider: 'p', model: 'primary' },
      { provider: 'p', model: 'ok-model' },
    ],
  };
  SCENARIOS.forEach((s, i) => {
    for (const mode of ['json', 'stream']) {
      models[`s${i}-${mode}`] = {
        targets: [
          { provider: 'p', model: `m${i}-${mode}@${s.fault}`, ...(s.target ?? {}) },
          { provider: 'p', model: 'ok-model', ...(s.fallback ?? {}) },
        ],
        continuation: true,
      } as never;
    }
  });
  return {
    ...(redisPrefix
      ? { store: { engine: 'redis' as const, url: REDIS_URL, prefix: redisPrefix }, jobs: { worker: false }, demo: false }
      : {}),
    providers: { p: { type: 'openai-compatible', baseURL: `${url}/v1`, apiKeys: ['key-p0'], prefill: true } },
    models,
    ai: {
      maxAttempts: 3,
      cache: { enabled: false },
      singleFlight: false,
      backoff: { baseMs: 50, maxMs: 200 },
      timeouts: { connectMs: 1_000, firstByteMs: 2_000, idleChunkMs: 1_000, totalMs: 30_000 },
      breaker: { failures: 2, resetMs: 400, maxResetMs: 800 },
    },
  };
}

for (const mode of ['memory', 'redis'] as const) {
  describe(`one provider, one key (${mode === 'memory' ? 'one gateway' : 'two gateways on one Redis'}): the fault run through the openai client`, () => {
    let mock: MockProvider;
    const servers: Array<Awaited<ReturnType<typeof testServer>>> = [];
    let clients: OpenAI[] = [];
    const prefix = testPrefix('aiseq');

    beforeAll(async () => {
      if (mode === 'redis') await requireRedis();
      mock = await startMockProvider();
      for (let i = 0; i < (mode === 'redis' ? 2 : 1); i++) {
        const s = await testServer(config(mock.url, mode === 'redis' ? prefix : undefined));
        await s.runtime.start();
        servers.push(s);
      }
      clients = servers.map((s) => new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30_000 }));
    });

    afterAll(async () => {
      for (const s of servers) await s.close();
      await mock?.close();
      if (mode === 'redis') await deleteKeys(prefix);
    });

    /** A plain or streamed call on gateway `g` (modulo the count); the text, the headers, or the error. */
    async function run(model: string, stream: boolean, text: string, g = 0) {
      const client = clients[g % clients.length]!;
      const messages = [{ role: 'user' as const, content: text }];
      const t0 = performance.now();
      try {
        if (!stream) {
          const { data, response } = await client.chat.completions.create({ model, messages }).withResponse();
          return { text: data.choices[0]!.message.content ?? '', headers: response.headers, ms: performance.now() - t0 };
        }
        const { data, response } = await client.chat.completions.create({ model, messages, stream: true }).withResponse();
        let out = '';
        for await (const c of data) out += c.choices[0]?.delta?.content ?? '';
        return { text: out, headers: response.headers, ms: performance.now() - t0 };
      } catch (err) {
        return { error: err as OpenAI.APIError, ms: performance.now() - t0 };
      }
    }

    SCENARIOS.forEach((s, i) => {
      for (const stream of [false, true]) {
        if (s.streamOnly && !stream) continue;
        const kind = stream ? 'stream' : 'json';
        it(`${s.name} (${kind}), then a healthy third model at once`, async () => {
          const text = `scenario ${i} ${kind} asks for a whole answer`;
          const r = await run(`s${i}-${kind}`, stream, text, i);
          expect(r.ms).toBeLessThan(10_000);
          if ('status' in s.expect) {
            expect(r.error).toBeDefined();
            expect(r.error!.status).toBe(s.expect.status);
            expect((r.error!.error as { code?: string } | undefined)?.code ?? r.error!.code).toBe(s.expect.code);
          } else {
            expect(r.error).toBeUndefined();
            // The whole answer, never a truncated one (a continuation ends with the same text).
            expect(r.text).toBe(`echo: ${text}`);
            if (!stream || s.expect.model === 'self') {
              const served = s.expect.model === 'self' ? `m${i}-${kind}@${s.fault}` : s.expect.model;
              expect(r.headers!.get('x-tasklane-model')).toBe(served);
            }
            expect(Number(r.headers!.get('x-tasklane-attempts'))).toBeLessThanOrEqual(3);
          }
          for (const thirdStream of [false, true]) {
            for (let g = 0; g < clients.length; g++) {
              const h = await run('third', thirdStream, `healthy after ${s.name}`, g);
              expect(h.error).toBeUndefined();
              expect(h.text).toBe(`echo: healthy after ${s.name}`);
              expect(h.headers!.get('x-tasklane-attempts')).toBe('1');
              expect(h.headers!.get('x-tasklane-waited-ms')).toBeNull();
              expect(h.ms).toBeLessThan(5_000);
            }
          }
        });
      }
    });

    it('outage: the primary down for a while is answered via the fallback throughout, and serves again soon after it recovers', async () => {
      let down = true;
      mock.respond((c) => (c.model === 'primary' && down ? { fault: '503-always' } : undefined));
      const served: Array<{ at: number; model: string }> = [];
      // The outage lasts a number of requests, not a time: a loaded machine serves fewer per second.
      const outageRequests = 10;
      let recoveredAt = 0;
      while (recoveredAt === 0 || Date.now() < recoveredAt + 2_500) {
        if (down && served.length >= outageRequests) {
          down = false;
          recoveredAt = Date.now();
        }
        const r = await run('outage', served.length % 2 === 1, `outage ${served.length}`, Math.floor(served.length / 2));
        expect(r.error).toBeUndefined();
        expect(r.text).toBe(`echo: outage ${served.length}`);
        served.push({ at: Date.now(), model: r.headers!.get('x-tasklane-model')! });
        await new Promise((res) => setTimeout(res, 150));
      }
      const during = served.filter((s) => s.at < recoveredAt);
      expect(during.length).toBe(outageRequests);
      expect(during.every((s) => s.model === 'ok-model')).toBe(true);
      // Back within one (grown) breaker wait of the recovery: maxResetMs 800 + a request gap (loose: shared CPU).
      const back = served.find((s) => s.at >= recoveredAt && s.model === 'primary');
      expect(back).toBeDefined();
      expect(back!.at - recoveredAt).toBeLessThan(800 + 2_000);
      // The breaker kept the down primary from being hammered: far fewer calls than requests.
      const primaryDuring = mock.calls.filter((c) => c.model === 'primary' && c.at < recoveredAt);
      expect(primaryDuring.length).toBeLessThan(during.length);
    });
  });
}
