import { afterEach, describe, expect, it } from 'vitest';
import type { RoutePlugin } from '../../src/index.js';
import { testServer } from '../support/runtime.js';
import { TestSocket } from './routes/jobs-helpers.js';

const echo: RoutePlugin = async (app) => {
  app.post('/v1/echo', async (req) => ({ body: req.body }));
};

describe('request limits', () => {
  let t: Awaited<ReturnType<typeof testServer>> | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${t!.url}/v1/echo`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  it('answers 400 with a JSON error for invalid, empty and too deep JSON, and 413 for a body over the limit', async () => {
    t = await testServer({ server: { bodyLimitBytes: 1024, jsonMaxDepth: 8 } }, {}, { routes: [echo] });
    const ok = await post('{"a":[1,{"b":"]]]]]]]]]]]]"}]}');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ body: { a: [1, { b: ']]]]]]]]]]]]' }] } });

    const bad = await post('{"a":');
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toEqual({ code: 'TL_ERR_VALIDATION', message: expect.stringContaining('not valid JSON') });

    const deep = await post('['.repeat(20) + ']'.repeat(20));
    expect(deep.status).toBe(400);
    expect((await deep.json()).error.message).toContain('deeper than 8 levels (server.jsonMaxDepth)');

    const big = await post(JSON.stringify({ s: 'x'.repeat(2000) }));
    expect(big.status).toBe(413);
    expect((await big.json()).error.code).toBe('TL_ERR_BODY_TOO_LARGE');

    const proto = await post('{"__proto__":{"polluted":true},"x":1}');
    expect(await proto.json()).toEqual({ body: { x: 1 } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it('limits each client key with a token bucket: 429 with Retry-After, other keys unaffected', async () => {
    t = await testServer(
      { server: { apiKeys: ['key-one-1234', 'key-two-1234'], rateLimit: { perSecond: 1, burst: 3 } } },
      {},
      { routes: [echo] },
    );
    const one = { authorization: 'Bearer key-one-1234' };
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await post('{}', one)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await post('{}', one);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await limited.json()).error.code).toBe('TL_ERR_RATE_LIMITED');
    expect((await post('{}', { authorization: 'Bearer key-two-1234' })).status).toBe(200);
  });

  it('counts SSE and WebSocket opens against the same key bucket, by header or by ?token=', async () => {
    t = await testServer({ server: { apiKeys: ['key-one-1234'], rateLimit: { perSecond: 0.5, burst: 4 } } });
    const auth = { authorization: 'Bearer key-one-1234' };
    const made = await fetch(`${t.url}/v1/jobs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'demo.progress', input: { steps: 1, ms: 1 } }),
    });
    const job = await made.json();
    const minted = await fetch(`${t.url}/v1/tokens`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{}',
    });
    const { token } = await minted.json();
    // Two tokens used by the JSON calls above; two left for streams, then 429 on every transport.
    const sse = await fetch(`${t.url}/v1/jobs/${job.id}/events?token=${token}`);
    expect(sse.status).toBe(200);
    await sse.body?.cancel();
    const ws = new TestSocket(`${t.url.replace('http', 'ws')}/v1/ws?token=${token}`);
    await ws.opened();
    ws.close();
    const limitedSse = await fetch(`${t.url}/v1/jobs/${job.id}/events?token=${token}`);
    expect(limitedSse.status).toBe(429);
    expect(Number(limitedSse.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await limitedSse.json()).error.code).toBe('TL_ERR_RATE_LIMITED');
    const limitedHeader = await fetch(`${t.url}/v1/jobs/${job.id}/events`, { headers: auth });
    expect(limitedHeader.status).toBe(429);
    await expect(new TestSocket(`${t.url.replace('http', 'ws')}/v1/ws?token=${token}`).opened()).rejects.toThrow(/429/);
  });

  it('refuses WebSocket messages past server.streams.wsMessagesPerSecond and closes a peer that keeps on with 1008', async () => {
    t = await testServer({ server: { streams: { wsMessagesPerSecond: 5, wsMaxSubscriptions: 3 } } });
    const ws = new TestSocket(`${t.url.replace('http', 'ws')}/v1/ws`);
    await ws.opened();
    // A burst of 10 (twice the rate, more than wsMaxSubscriptions) is answered; the next ones get a rate error each.
    for (let i = 0; i < 12; i++) ws.send({ op: 'unsubscribe', jobId: `j${i}` });
    await ws.until(() => ws.messages.length >= 12, '12 answers');
    expect(ws.messages.filter((m) => m.type === 'unsubscribed')).toHaveLength(10);
    const errors = ws.messages.filter((m) => m.type === 'error');
    expect(errors.length).toBe(2);
    expect(errors[0].error).toMatchObject({
      code: 'TL_ERR_RATE_LIMITED',
      retryable: true,
      message: expect.stringContaining('server.streams.wsMessagesPerSecond'),
    });
    // Keeping on past a second's worth of refusals closes the connection.
    for (let i = 0; i < 20; i++) ws.send({ op: 'unsubscribe', jobId: 'x' });
    await ws.until(() => ws.closed !== undefined, 'the close');
    expect(ws.closed).toEqual({ code: 1008, reason: 'too many messages (server.streams.wsMessagesPerSecond)' });
    // Other connections are not affected; after a pause the budget is back.
    const other = new TestSocket(`${t.url.replace('http', 'ws')}/v1/ws`);
    await other.opened();
    other.send({ op: 'unsubscribe', jobId: 'y' });
    await other.until(() => other.messages.length === 1, 'an answer');
    expect(other.messages[0].type).toBe('unsubscribed');
    other.close();
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it('refuses a chat request with more messages than server.maxMessages before any provider is called', async () => {
    const { startMockProvider } = await import('../support/mock-provider.js');
    const mock = await startMockProvider();
    try {
      t = await testServer({
        server: { maxMessages: 3 },
        providers: { mock: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['sk-limit-1234'] } },
        models: { chat: [{ provider: 'mock', model: 'gpt-mock' }] },
      });
      const chat = (n: number) =>
        fetch(`${t!.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'chat', messages: Array.from({ length: n }, (_, i) => ({ role: 'user', content: `m${i}` })) }),
        });
      expect((await chat(3)).status).toBe(200);
      const calls = mock.calls.length;
      const over = await chat(4);
      expect(over.status).toBe(400);
      expect((await over.json()).error).toMatchObject({
        code: 'TL_ERR_VALIDATION',
        message: expect.stringContaining('(server.maxMessages)'),
      });
      expect(mock.calls.length).toBe(calls);
    } finally {
      await mock.close();
    }
  });

  it('lets a reconnecting client resubscribe to a full set of jobs at once (default limits)', async () => {
    t = await testServer({ server: { streams: { wsMaxSubscriptions: 400 } } });
    const ws = new TestSocket(`${t.url.replace('http', 'ws')}/v1/ws`);
    await ws.opened();
    for (let i = 0; i < 400; i++) ws.send({ op: 'unsubscribe', jobId: `j${i}` });
    await ws.until(() => ws.messages.length >= 400, '400 answers');
    expect(ws.messages.filter((m) => m.type === 'unsubscribed')).toHaveLength(400);
    ws.close();
  });

  it('serves /metrics without a key by default, and only to admin keys with server.publicMetrics false', async () => {
    t = await testServer({ server: { apiKeys: ['admin-key-1234', { key: 'reader-key-1234', scopes: ['jobs:read'] }] } });
    expect((await fetch(`${t.url}/metrics`)).status).toBe(200);
    await t.close();
    t = await testServer({
      server: { publicMetrics: false, apiKeys: ['admin-key-1234', { key: 'reader-key-1234', scopes: ['jobs:read'] }] },
    });
    const anon = await fetch(`${t.url}/metrics`);
    expect(anon.status).toBe(401);
    expect((await anon.json()).error.code).toBe('TL_ERR_AUTH_MISSING');
    const reader = await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer reader-key-1234' } });
    expect(reader.status).toBe(403);
    const admin = await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer admin-key-1234' } });
    expect(admin.status).toBe(200);
    expect(await admin.text()).toContain('tasklane_process_active_resources');
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});
