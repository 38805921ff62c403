import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { testServer } from '../support/runtime.js';

// Hostile bodies: random JSON of every shape, truncated JSON, deep nesting, huge strings, unicode.
const json = fc.jsonValue({ maxDepth: 4 });
const text = fc.oneof(
  json.map((v) => JSON.stringify(v)),
  json.map((v) => JSON.stringify(v).slice(0, -1)),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.integer({ min: 1, max: 200 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.constantFrom('', 'null', '{"task":', '{"model":"chat","messages":"x"}', 'x'.repeat(300_000)),
);
const chatish = fc.record(
  {
    model: fc.oneof(fc.constantFrom('chat', 'mock/gpt-mock', 'nope'), json),
    messages: fc.oneof(fc.array(fc.record({ role: fc.oneof(fc.constantFrom('user', 'system', 'assistant'), json), content: fc.oneof(fc.string(), json) }), { maxLength: 3 }), json),
    stream: fc.oneof(fc.boolean(), json),
    max_tokens: fc.oneof(fc.integer(), json),
  },
  { requiredKeys: [] },
);
const jobish = fc.record(
  {
    task: fc.oneof(fc.constantFrom('demo.progress', 'demo.cpu', 'nope'), json),
    input: fc.oneof(fc.record({ steps: fc.oneof(fc.integer({ min: -5, max: 3 }), json), ms: fc.oneof(fc.integer({ min: -5, max: 2 }), json) }), json),
    priority: fc.oneof(fc.integer(), json),
    delayMs: fc.oneof(fc.integer(), json),
    idempotencyKey: fc.oneof(fc.string(), json),
  },
  { requiredKeys: [] },
);

describe('hostile input on every route', () => {
  let mock: MockProvider;
  let t: Awaited<ReturnType<typeof testServer>>;
  const auth = { authorization: 'Bearer fuzz-key-123456' };
  let keep: string;

  beforeAll(async () => {
    mock = await startMockProvider();
    t = await testServer({
      server: { apiKeys: ['fuzz-key-123456'], bodyLimitBytes: 100_000 },
      providers: { mock: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['sk-fuzz-1234'] } },
      models: { chat: [{ provider: 'mock', model: 'gpt-mock' }] },
    });
    const res = await fetch(`${t.url}/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ task: 'demo.progress', input: { steps: 2, ms: 1 } }) });
    keep = (await res.json()).id;
  });
  afterAll(async () => {
    await t?.close();
    await mock?.close();
  });

  const expectClean = async (res: Response) => {
    expect(res.status, `status ${res.status}`).toBeLessThan(500);
    if (res.status >= 400) {
      const body = await res.json();
      expect(body.error).toEqual(expect.objectContaining({ code: expect.stringMatching(/^TL_ERR_/), message: expect.any(String) }));
    } else {
      await res.arrayBuffer();
    }
  };

  it('answers 2xx or a 4xx JSON error, never a 5xx, and stays healthy with the store intact', async () => {
    const routes: Array<[string, string]> = [
      ['POST', '/v1/chat/completions'],
      ['POST', '/v1/jobs'],
      ['POST', '/v1/tokens'],
      ['POST', `/v1/jobs/${'x'.repeat(3)}/cancel`],
      ['POST', `/v1/jobs/${keep}/retry`],
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), text, fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'), async ([method, path], body, type) => {
        await expectClean(await fetch(`${t.url}${path}`, { method, headers: { ...auth, 'content-type': type }, body }));
      }),
      { numRuns: 150, seed: 7 },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(chatish.map((b) => ['/v1/chat/completions', b] as const), jobish.map((b) => ['/v1/jobs', b] as const)), async ([path, body]) => {
        const res = await fetch(`${t.url}${path}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
        await expectClean(res);
      }),
      { numRuns: 150, seed: 11 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), async (a, b) => {
        const q = new URLSearchParams({ state: a, task: b, limit: b, cursor: a }).toString();
        await expectClean(await fetch(`${t.url}/v1/jobs?${q}`, { headers: auth }));
        await expectClean(await fetch(`${t.url}/v1/jobs/${encodeURIComponent(a || 'x')}`, { headers: auth }));
        const ev = await fetch(`${t.url}/v1/jobs/${encodeURIComponent(a || 'x')}/events?from=${encodeURIComponent(b)}`, { headers: { ...auth, 'last-event-id': b.replace(/[\r\n]/g, '') } });
        if (ev.status === 200) await ev.body?.cancel();
        else await expectClean(ev);
      }),
      { numRuns: 60, seed: 13 },
    );
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const kept = await (await fetch(`${t.url}/v1/jobs/${keep}`, { headers: auth })).json();
    expect(kept).toMatchObject({ id: keep, task: 'demo.progress', input: { steps: 2, ms: 1 } });
  }, 90_000);

  it('answers any method, path, query and header mix on every route without a 5xx; errors are JSON', async () => {
    const paths = ['/healthz', '/readyz', '/metrics', '/dashboard', '/dashboard/app.js', '/v1/models', '/v1/admin/overview', '/v1/tokens', '/v1/jobs', `/v1/jobs/${keep}`, `/v1/jobs/${keep}/cancel`, `/v1/jobs/${keep}/retry`, '/v1/chat/completions', '/v1/nope', '/v1/jobs/%00/x'];
    const headerValue = fc.oneof(fc.string({ maxLength: 80 }).map((v) => v.replace(/[^\x20-\x7e]/g, '')), fc.constantFrom('Bearer', 'Bearer ', 'Basic abc', 'Bearer fuzz-key-123456 extra', 'bearer fuzz-key-123456'));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
        fc.constantFrom(...paths),
        fc.string({ maxLength: 60 }),
        fc.option(headerValue, { nil: undefined }),
        fc.option(headerValue, { nil: undefined }),
        async (method, path, query, authorization, lastEventId) => {
          const headers: Record<string, string> = authorization === undefined ? { ...auth } : { authorization };
          if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
          const url = `${t.url}${path}?${new URLSearchParams({ token: query, from: query, limit: query, q: query })}`;
          const res = await fetch(url, { method, headers, body: method === 'GET' || method === 'OPTIONS' ? undefined : query, signal: AbortSignal.timeout(5_000) });
          expect(res.status, `${method} ${path}`).toBeLessThan(500);
          const type = res.headers.get('content-type') ?? '';
          if (res.status >= 400) {
            expect(type).toContain('application/json');
            expect((await res.json()).error.code).toMatch(/^TL_ERR_/);
          } else await res.body?.cancel();
        },
      ),
      { numRuns: 200, seed: 23 },
    );
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  }, 60_000);

  it('answers random WebSocket frames with a typed error or a clean close, and stays healthy', async () => {
    const frames = fc.array(fc.oneof(text.map((s) => s.slice(0, 70_000)), fc.uint8Array({ maxLength: 64 }), jobish.map((j) => JSON.stringify({ op: 'subscribe', jobId: j.task, fromSeq: j.priority }))), { minLength: 1, maxLength: 5 });
    await fc.assert(
      fc.asyncProperty(frames, async (list) => {
        const ws = new WebSocket(`${t.url.replace('http', 'ws')}/v1/ws`, { headers: auth });
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        const replies: string[] = [];
        ws.on('message', (d) => replies.push(String(d)));
        const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
        ws.on('error', () => undefined);
        for (const f of list) ws.send(f);
        const settled = await Promise.race([closed, new Promise<'open'>((r) => setTimeout(() => r('open'), 150))]);
        if (settled === 'open') ws.close();
        else expect([1000, 1005, 1006, 1009, 4008]).toContain(settled);
        for (const r of replies) {
          const msg = JSON.parse(r);
          if (msg.type === 'error') expect(msg.error.code).toMatch(/^TL_ERR_/);
        }
      }),
      { numRuns: 40, seed: 17 },
    );
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  }, 60_000);
});
