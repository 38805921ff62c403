/**
 * Issue 15: `x-api-key` (how Anthropic's clients send their key) is read on the Anthropic route
 * only; every other route takes the key as `Authorization: Bearer` and ignores that header.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { aiConfig } from '../../ai/fixtures.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';

const KEY = 'tl-client-key-0123456789';
let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

describe('x-api-key', () => {
  it('authenticates /v1/messages, and no other route', async () => {
    mock = await startMockProvider();
    const config = aiConfig(mock.url);
    config.server = { apiKeys: [KEY] };
    t = await testServer(config);
    const post = (path: string, headers: Record<string, string>, body: unknown) =>
      fetch(`${t!.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const chat = { model: 'chat', messages: [{ role: 'user', content: 'x' }] };

    expect((await post('/v1/messages', { 'x-api-key': KEY }, { ...chat, max_tokens: 8 })).status).toBe(200);
    const refused = await post('/v1/chat/completions', { 'x-api-key': KEY }, chat);
    expect(refused.status).toBe(401);
    expect((await refused.json()).error.code).toBe('TL_ERR_AUTH_MISSING');
    expect((await post('/v1/jobs', { 'x-api-key': KEY }, { task: 'demo.progress', input: { steps: 1, ms: 0 } })).status).toBe(401);
    const list = await fetch(`${t.url}/v1/jobs`, { headers: { 'x-api-key': KEY } });
    expect(list.status).toBe(401);
    // The same key as a bearer token works everywhere.
    expect((await post('/v1/chat/completions', { authorization: `Bearer ${KEY}` }, chat)).status).toBe(200);
    expect(mock.calls).toHaveLength(2);
  });
});
