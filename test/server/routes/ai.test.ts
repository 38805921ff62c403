import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { aiConfig, ask } from '../../ai/fixtures.js';
import { callGateway } from '../../ai/http.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

async function gateway(extra: Record<string, unknown> = {}) {
  mock = await startMockProvider();
  t = await testServer({ ...aiConfig(mock.url), ...extra });
  return t.url;
}

describe('POST /v1/chat/completions with the official openai client', () => {
  it('answers plain and streamed calls, with x-tasklane headers', async () => {
    const url = await gateway();
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const { data, response } = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'hi there' }] })
      .withResponse();
    expect(data.choices[0]!.message.content).toContain('hi there');
    expect(data.usage?.total_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-tasklane-provider')).toBe('a');
    expect(response.headers.get('x-tasklane-model')).toBe('gpt-mock');
    expect(response.headers.get('x-tasklane-attempts')).toBe('1');
    expect(response.headers.get('x-tasklane-cache')).toBe('miss');
    expect(Number(response.headers.get('x-tasklane-latency-ms'))).toBeGreaterThanOrEqual(0);
    expect(['0', '1']).toContain(response.headers.get('x-tasklane-key-index'));

    const stream = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'stream please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage?.total_tokens ?? usage;
    }
    expect(text).toContain('stream please');
    expect(finish).toBe('stop');
    expect(usage).toBeGreaterThan(0);

    const again = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi there' }] }).withResponse();
    expect(again.response.headers.get('x-tasklane-cache')).toBe('hit');
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['chat']);
  });

  it('surfaces a broken stream to the openai client as an error, never as a whole answer', async () => {
    mock = await startMockProvider();
    t = await testServer(aiConfig(mock.url, { models: { cut: [{ provider: 'a', model: 'gpt-mock@cut' }] } }));
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'cut',
      messages: [{ role: 'user', content: 'cut me off' }],
      stream: true,
    });
    await expect(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    ).rejects.toThrow();
  });
});

describe('POST /v1/chat/completions errors', () => {
  it('answers bad input with OpenAI-shaped errors carrying our code', async () => {
    const url = await gateway({ server: { port: 0, bodyLimitBytes: 4_096 } });
    const bad = await callGateway(url, '{"model":');
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('TL_ERR_VALIDATION');
    const missing = await callGateway(url, { model: 'chat' });
    expect(missing.status).toBe(400);
    expect(missing.json.error.message).toContain('messages');
    const unknown = await callGateway(url, ask('x', 'no-such-model'));
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: 'TL_ERR_AI_UNKNOWN_MODEL', type: 'not_found_error' });
    const big = await callGateway(url, ask('x'.repeat(10_000)));
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('TL_ERR_BODY_TOO_LARGE');
    const badTimeout = await callGateway(url, ask('x'), { 'x-tasklane-timeout-ms': 'soon' });
    expect(badTimeout.status).toBe(400);
    expect(mock.calls).toHaveLength(0);
  });

  it('requires a client key with the ai scope', async () => {
    mock = await startMockProvider();
    t = await testServer({
      ...aiConfig(mock.url),
      server: { port: 0, apiKeys: [{ key: 'jobs-only', scopes: ['jobs:read'] }, 'full-key'] },
    });
    expect((await callGateway(t.url, ask('x'))).status).toBe(401);
    const forbidden = await callGateway(t.url, ask('x'), { authorization: 'Bearer jobs-only' });
    expect(forbidden.status).toBe(403);
    expect((await callGateway(t.url, ask('x'), { authorization: 'Bearer full-key' })).status).toBe(200);
  });
});

describe('client disconnect and close', () => {
  for (const mode of ['json', 'stream'] as const) {
    it(`a client that goes away aborts the upstream request (${mode})`, async () => {
      mock = await startMockProvider();
      t = await testServer(
        aiConfig(mock.url, {
          models: { slow: [{ provider: 'a', model: mode === 'json' ? 'gpt-mock@hang' : 'gpt-mock@stall' }] },
          ai: { timeouts: { firstByteMs: 20_000, idleChunkMs: 20_000, totalMs: 30_000 } },
        }),
      );
      const ac = new AbortController();
      const pending = callGateway(t.url, { ...ask('bye', 'slow'), stream: mode === 'stream' }, {}, ac.signal).catch((e) => e);
      await until(() => mock.calls.length === 1);
      if (mode === 'stream') await new Promise((r) => setTimeout(r, 100));
      ac.abort();
      await pending;
      await until(() => mock.calls[0]!.aborted === true);
    });
  }

  it('leaves no socket open after close', async () => {
    const url = await gateway();
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'one' }] });
    const s = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'two' }], stream: true });
    for await (const _ of s) void _;
    await t!.close();
    t = undefined;
    await mock.close();
    await until(
      () => !process.getActiveResourcesInfo().includes('TCPSocketWrap') && !process.getActiveResourcesInfo().includes('TCPServerWrap'),
      5_000,
    );
  });
});

async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
