import { tmpdir } from 'node:os';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/index.js';
import { AiMetrics } from '../../src/ai/metrics.js';
import { Orchestrator } from '../../src/ai/orchestrator.js';
import { MockLanguageModel, type MockLanguageModelOptions } from '../support/mock-language-model.js';
import { ask, collect } from './fixtures.js';

/**
 * Orchestrator and dispatch logic against in-process mock adapters (no sockets): which target and
 * key serve, how many calls each fault costs, and that a broken stream never ends as a success.
 * The same scenarios over loopback HTTP live in dispatch.test.ts.
 */

let orchestrator: Orchestrator | undefined;
afterEach(async () => {
  await orchestrator?.close();
  orchestrator = undefined;
});

function build(a: MockLanguageModelOptions, b: MockLanguageModelOptions = {}) {
  const models = { a: new MockLanguageModel('a', a), b: new MockLanguageModel('b', b) };
  const config = loadConfig({
    config: {
      providers: {
        a: { type: 'openai-compatible', baseURL: 'http://127.0.0.1:9/v1', apiKeys: ['key-a0-000001', 'key-a1-000001'] },
        b: { type: 'openai-compatible', baseURL: 'http://127.0.0.1:9/v1', apiKeys: ['key-b0-000001'] },
      },
      models: {
        chat: [
          { provider: 'a', model: 'model-a' },
          { provider: 'b', model: 'model-b' },
        ],
      },
      ai: { backoff: { baseMs: 1, maxMs: 2 } },
    },
    env: {},
    dotenv: false,
    cwd: tmpdir(),
  });
  orchestrator = new Orchestrator({
    config,
    log: pino({ level: 'silent' }),
    metrics: new AiMetrics(new Registry()),
    models: new Map(Object.entries(models)),
  });
  return { ai: orchestrator, ...models };
}

describe('orchestrator over mock LanguageModels', () => {
  it('sends each target its own upstream model id, and the first healthy target serves', async () => {
    const { ai, a, b } = build({ script: { text: 'hello there' } });
    const { completion, meta } = await ai.chat(ask('hi'));
    expect(completion.choices[0]!.message.content).toBe('hello there');
    expect(meta).toMatchObject({ provider: 'a', model: 'model-a', keyIndex: 0, attempts: 1 });
    expect(a.chatCalls.map((c) => [c.method, c.request!.model, c.hasKey])).toEqual([['generate', 'model-a', true]]);
    expect(b.calls).toEqual([]);
  });

  it('retries a 5xx on the same target, then fails over to the next, counting every attempt', async () => {
    const { ai, a, b } = build({ script: { fault: 'server', status: 503 } }, { script: { text: 'from b' } });
    const { completion, meta } = await ai.chat(ask('hi'));
    expect(completion.choices[0]!.message.content).toBe('from b');
    expect(meta.provider).toBe('b');
    expect(a.chatCalls.length).toBeGreaterThanOrEqual(2);
    expect(b.chatCalls).toHaveLength(1);
    expect(meta.attempts).toBe(a.chatCalls.length + 1);
  });

  it('lists the failed attempts with their reasons in meta, whole and streamed; none when the first attempt answers', async () => {
    const { ai, a } = build({ script: { fault: 'server', status: 503 } }, { script: { text: 'from b' } });
    const whole = await ai.chat(ask('whole'));
    const streamed = await ai.openStream({ ...ask('streamed'), stream: true });
    for await (const _ of streamed.chunks) void _;
    for (const meta of [whole.meta, streamed.meta]) {
      expect(meta).toMatchObject({ provider: 'b', model: 'model-b', keyIndex: 0 });
      expect(meta.failedAttempts).toHaveLength(meta.attempts - 1);
      for (const f of meta.failedAttempts!) {
        expect(f).toMatchObject({ provider: 'a', model: 'model-a', status: 503, kind: 'server', code: 'TL_ERR_AI_PROVIDER' });
        expect(Object.keys(f).sort()).toEqual(['code', 'keyIndex', 'kind', 'model', 'ms', 'provider', 'status']);
      }
    }
    expect(a.chatCalls.length).toBe(whole.meta.attempts - 1 + streamed.meta.attempts - 1);
    await ai.close();
    const healthy = build({ script: { text: 'at once' } });
    expect((await healthy.ai.chat(ask('fine'))).meta.failedAttempts).toBeUndefined();
  });

  it('cools a key refused with 429: the next attempt goes to another key, never the cooling one', async () => {
    const { ai, a, b } = build({
      script: (call) => (call.keyIndex === 0 ? { fault: 'rate_limit', status: 429, retryAfterMs: 60_000 } : { text: 'second key' }),
    });
    const first = await ai.chat(ask('one'));
    expect(first.meta).toMatchObject({ provider: 'a', keyIndex: 1 });
    const second = await ai.chat(ask('two'));
    expect(second.meta).toMatchObject({ provider: 'a', keyIndex: 1 });
    // Key 0 was asked once; while it cools it is not asked again.
    expect(a.chatCalls.filter((c) => c.keyIndex === 0)).toHaveLength(1);
    expect(b.calls).toEqual([]);
  });

  it('treats a bad request as final: one call, no other target, the upstream reason kept', async () => {
    const { ai, a, b } = build(
      { script: { fault: 'bad_request', status: 400, message: 'messages: must not be empty' } },
      { script: { text: 'never' } },
    );
    const err = await ai.chat(ask('hi')).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err?.code).toBe('TL_ERR_AI_BAD_REQUEST');
    expect(err?.message).toContain('messages: must not be empty');
    expect(a.chatCalls).toHaveLength(1);
    expect(b.calls).toEqual([]);
  });

  it('ends a stream cut after the first byte with the in-band error, never as a truncated success', async () => {
    const { ai, a } = build({ script: { fault: 'stream_broken', afterText: 'half of an' } }, { script: { text: 'never' } });
    const out = await collect(ai.stream({ ...ask('hi'), stream: true }));
    expect(out.text).toBe('half of an');
    expect(out.finish).toBeNull();
    expect(out.error?.code).toBe('TL_ERR_AI_STREAM_BROKEN');
    expect(a.chatCalls.map((c) => c.method)).toEqual(['stream']);
  });

  it('closes every adapter it owns on close()', async () => {
    const { ai, a, b } = build({});
    await ai.close();
    orchestrator = undefined;
    expect([a.closed, b.closed]).toEqual([true, true]);
  });
});

describe('MockLanguageModel', () => {
  it('throws "not implemented" without a script, and says when a scripted list runs out', async () => {
    const call = {
      request: { model: 'm', messages: [] },
      keyIndex: 0,
      signal: new AbortController().signal,
      timeouts: { connectMs: 1, firstByteMs: 1, idleChunkMs: 1, totalMs: 1 },
    };
    await expect(new MockLanguageModel('x').doGenerate(call)).rejects.toThrow(/not implemented/);
    const once = new MockLanguageModel('y', { script: [{ text: 'one' }] });
    await once.doGenerate(call);
    await expect(once.doGenerate(call)).rejects.toThrow(/no scripted step left for call 2/);
  });
});
