import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { AiRequestLog, requestLogOf } from '../../../src/ai/request-log.js';
import { aiConfig } from '../../ai/fixtures.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';

const KEYS = { admin: 'tl-ailog-admin-4e1b', reader: 'tl-ailog-reader-77c2' };
const PROVIDER_KEYS = ['key-a0', 'key-a1', 'key-b0'];

let t: Awaited<ReturnType<typeof testServer>> | undefined;
let mock: MockProvider | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
  mock = undefined;
});

async function requests(key: string, query = ''): Promise<{ status: number; text: string; body: any }> {
  const res = await fetch(`${t!.url}/v1/admin/ai/requests${query}`, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) };
}

describe('AiRequestLog', () => {
  it('keeps the last N entries, newest first, and counts every one', () => {
    const log = new AiRequestLog(3);
    for (let i = 0; i < 5; i++) log.add({ at: i, route: `r${i}`, stream: false, outcome: 'ok', attempts: 1, failures: [], latencyMs: 1 });
    expect(log.list().map((e) => [e.seq, e.route])).toEqual([
      [5, 'r4'],
      [4, 'r3'],
      [3, 'r2'],
    ]);
    expect(log.list(2).map((e) => e.seq)).toEqual([5, 4]);
    expect(log.total).toBe(5);
    expect(() => new AiRequestLog(0)).toThrow(RangeError);
  });

  it('keeps at most a few hundred characters of a route name or an error message, however long the request made them', async () => {
    mock = await startMockProvider();
    t = await testServer(aiConfig(mock.url));
    const huge = 'x'.repeat(100_000);
    await expect(t.runtime.ai.chat({ model: huge, messages: [{ role: 'user', content: 'x' }] })).rejects.toThrow();
    const [entry] = requestLogOf(t.runtime.ai).list();
    expect(entry!.route.length).toBeLessThanOrEqual(200);
    expect(entry!.error!.message.length).toBeLessThanOrEqual(500);
    expect(entry!.route.endsWith('…')).toBe(true);
  });
});

describe('GET /v1/admin/ai/requests', () => {
  it('lists gateway requests with who served them, the failed attempts and why, tokens; admin keys only; never a key', async () => {
    mock = await startMockProvider();
    t = await testServer({
      ...aiConfig(mock.url),
      server: {
        apiKeys: [
          { key: KEYS.admin, scopes: ['admin'] },
          { key: KEYS.reader, scopes: ['jobs:read', 'ai'] },
        ],
      },
    });
    const client = new OpenAI({ apiKey: KEYS.reader, baseURL: `${t.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'one' }] });
    const stream = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'two' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const _ of stream) void _;
    // Every target refuses this one: two attempts, both listed with their status.
    mock.faultForKey('key-a0', '503-always');
    mock.faultForKey('key-a1', '503-always');
    mock.faultForKey('key-b0', '503-always');
    await expect(client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'three' }] })).rejects.toThrow();

    expect((await requests(KEYS.reader)).status).toBe(403);
    const { status, text, body } = await requests(KEYS.admin);
    expect(status).toBe(200);
    for (const key of [...PROVIDER_KEYS, KEYS.admin, KEYS.reader]) expect(text).not.toContain(key);
    for (const word of ['one', 'two', 'three']) expect(text).not.toContain(`"${word}"`);
    expect(body.total).toBe(3);
    expect(body.capacity).toBe(200);
    const [failed, streamed, plain] = body.requests;
    expect(plain).toMatchObject({
      seq: 1,
      route: 'chat',
      stream: false,
      outcome: 'ok',
      provider: 'a',
      model: 'gpt-mock',
      keyIndex: 0,
      attempts: 1,
      failures: [],
    });
    expect(plain.tokens.total).toBe(plain.tokens.prompt + plain.tokens.completion);
    expect(plain.latencyMs).toBeGreaterThan(0);
    expect(streamed).toMatchObject({ seq: 2, stream: true, outcome: 'ok', provider: 'a', attempts: 1 });
    expect(streamed.durationMs).toBeGreaterThanOrEqual(streamed.latencyMs);
    expect(streamed.tokens.total).toBeGreaterThan(0);
    expect(failed).toMatchObject({ seq: 3, outcome: 'error', error: { code: expect.stringMatching(/^TL_ERR_AI_/) } });
    expect(failed.attempts).toBeGreaterThanOrEqual(2);
    expect(failed.failures).toHaveLength(failed.attempts);
    for (const f of failed.failures) expect(f).toMatchObject({ model: 'gpt-mock', status: 503, kind: 'server' });
    expect(new Set(failed.failures.map((f: { provider: string }) => f.provider))).toEqual(new Set(['a', 'b']));

    expect((await requests(KEYS.admin, '?limit=1')).body.requests.map((r: { seq: number }) => r.seq)).toEqual([3]);
    const bad = await requests(KEYS.admin, '?limit=0');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('TL_ERR_VALIDATION');
  });

  it('lists the failed attempts and their reasons of a request that failed over and then succeeded (JSON and stream)', async () => {
    mock = await startMockProvider();
    // A breaker that stays closed, so each request meets the failing target again.
    t = await testServer({
      ...aiConfig(mock.url, { ai: { breaker: { failures: 100, resetMs: 400 } } }),
      server: { apiKeys: [{ key: KEYS.admin, scopes: ['admin', 'ai'] }] },
    });
    // Both keys of the first target answer 503: the second target serves.
    mock.faultForKey('key-a0', '503-always');
    mock.faultForKey('key-a1', '503-always');
    const client = new OpenAI({ apiKey: KEYS.admin, baseURL: `${t.url}/v1`, maxRetries: 0 });
    const answer = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'failover json' }] });
    expect(answer.choices[0]!.message.content).toBeTruthy();
    const stream = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'failover stream' }],
      stream: true,
    });
    for await (const _ of stream) void _;
    // The orchestrator's own answer carries the list (runtime.ai, as a task sees it).
    const direct = await t.runtime.ai.chat({ model: 'chat', messages: [{ role: 'user', content: 'failover direct' }] });
    expect(direct.meta).toMatchObject({ provider: 'b', keyIndex: 0 });
    expect(direct.meta.failedAttempts!.length).toBe(direct.meta.attempts - 1);
    for (const f of direct.meta.failedAttempts!) expect(f).toMatchObject({ provider: 'a', model: 'gpt-mock', status: 503, kind: 'server' });

    const { text, body } = await requests(KEYS.admin);
    for (const key of PROVIDER_KEYS) expect(text).not.toContain(key);
    const [viaTask, streamed, plain] = body.requests;
    for (const entry of [plain, streamed, viaTask]) {
      expect(entry).toMatchObject({ outcome: 'ok', provider: 'b', model: 'gpt-mock', keyIndex: 0 });
      expect(entry.attempts).toBeGreaterThanOrEqual(2);
      // Every attempt but the one that answered is listed, in order, with its reason.
      expect(entry.failures).toHaveLength(entry.attempts - 1);
      for (const f of entry.failures) {
        expect(f).toMatchObject({
          provider: 'a',
          model: 'gpt-mock',
          status: 503,
          kind: 'server',
          code: expect.stringMatching(/^TL_ERR_AI_/),
        });
        expect(f.ms).toBeGreaterThanOrEqual(0);
        expect([0, 1]).toContain(f.keyIndex);
      }
    }
    expect(streamed.stream).toBe(true);
  });

  it('records chat and embeddings calls made on runtime.ai directly (as tasks do), once however often the log is asked for', async () => {
    mock = await startMockProvider();
    t = await testServer(aiConfig(mock.url, { models: { emb: [{ provider: 'b', model: 'embed-mock' }] } }));
    // The server tapped the orchestrator already; asking again gives the same log and no second tap.
    const log = requestLogOf(t.runtime.ai);
    expect(requestLogOf(t.runtime.ai)).toBe(log);
    await t.runtime.ai.chat({ model: 'chat', messages: [{ role: 'user', content: 'direct' }] });
    await expect(t.runtime.ai.chat({ model: 'no-such-route', messages: [{ role: 'user', content: 'x' }] })).rejects.toThrow();
    await t.runtime.ai.embed({ model: 'emb', input: ['one', 'two'] });
    const body = await (await fetch(`${t.url}/v1/admin/ai/requests`)).json();
    expect(body.total).toBe(3);
    expect(log.total).toBe(3);
    expect(body.requests[2]).toMatchObject({ route: 'chat', kind: 'chat', outcome: 'ok', provider: 'a' });
    expect(body.requests[1]).toMatchObject({
      route: 'no-such-route',
      outcome: 'error',
      attempts: 0,
      error: { code: 'TL_ERR_AI_UNKNOWN_MODEL' },
    });
    expect(body.requests[0]).toMatchObject({
      route: 'emb',
      kind: 'embeddings',
      outcome: 'ok',
      provider: 'b',
      model: 'embed-mock',
      keyIndex: 0,
      attempts: 1,
    });
  });
});
