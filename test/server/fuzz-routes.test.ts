import { request } from 'node:http';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
    messages: fc.oneof(
      fc.array(fc.record({ role: fc.oneof(fc.constantFrom('user', 'system', 'assistant'), json), content: fc.oneof(fc.string(), json) }), {
        maxLength: 3,
      }),
      json,
    ),
    stream: fc.oneof(fc.boolean(), json),
    max_tokens: fc.oneof(fc.integer(), json),
  },
  { requiredKeys: [] },
);
const jobish = fc.record(
  {
    task: fc.oneof(fc.constantFrom('demo.progress', 'demo.cpu', 'nope'), json),
    input: fc.oneof(
      fc.record({ steps: fc.oneof(fc.integer({ min: -5, max: 3 }), json), ms: fc.oneof(fc.integer({ min: -5, max: 2 }), json) }),
      json,
    ),
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
    const res = await fetch(`${t.url}/v1/jobs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'demo.progress', input: { steps: 2, ms: 1 } }),
    });
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
      fc.asyncProperty(
        fc.constantFrom(...routes),
        text,
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
        async ([method, path], body, type) => {
          await expectClean(await fetch(`${t.url}${path}`, { method, headers: { ...auth, 'content-type': type }, body }));
        },
      ),
      { numRuns: 150, seed: 7 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          chatish.map((b) => ['/v1/chat/completions', b] as const),
          jobish.map((b) => ['/v1/jobs', b] as const),
        ),
        async ([path, body]) => {
          const res = await fetch(`${t.url}${path}`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          await expectClean(res);
        },
      ),
      { numRuns: 150, seed: 11 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), async (a, b) => {
        const q = new URLSearchParams({ state: a, task: b, limit: b, cursor: a }).toString();
        await expectClean(await fetch(`${t.url}/v1/jobs?${q}`, { headers: auth }));
        await expectClean(await fetch(`${t.url}/v1/jobs/${encodeURIComponent(a || 'x')}`, { headers: auth }));
        const ev = await fetch(`${t.url}/v1/jobs/${encodeURIComponent(a || 'x')}/events?from=${encodeURIComponent(b)}`, {
          headers: { ...auth, 'last-event-id': b.replace(/[\r\n]/g, '') },
        });
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
    const paths = [
      '/healthz',
      '/readyz',
      '/metrics',
      '/dashboard',
      '/dashboard/app.js',
      '/v1/models',
      '/v1/admin/overview',
      '/v1/tokens',
      '/v1/jobs',
      `/v1/jobs/${keep}`,
      `/v1/jobs/${keep}/cancel`,
      `/v1/jobs/${keep}/retry`,
      '/v1/chat/completions',
      '/v1/nope',
      '/v1/jobs/%00/x',
    ];
    const headerValue = fc.oneof(
      fc.string({ maxLength: 80 }).map((v) => v.replace(/[^\x20-\x7e]/g, '')),
      fc.constantFrom('Bearer', 'Bearer ', 'Basic abc', 'Bearer fuzz-key-123456 extra', 'bearer fuzz-key-123456'),
    );
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
          const res = await fetch(url, {
            method,
            headers,
            body: method === 'GET' || method === 'OPTIONS' ? undefined : query,
            signal: AbortSignal.timeout(5_000),
          });
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
    const frames = fc.array(
      fc.oneof(
        text.map((s) => s.slice(0, 70_000)),
        fc.uint8Array({ maxLength: 64 }),
        jobish.map((j) => JSON.stringify({ op: 'subscribe', jobId: j.task, fromSeq: j.priority })),
      ),
      { minLength: 1, maxLength: 5 },
    );
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

// Issue 18: hostile Host and Origin headers, control characters in every string field, and names
// from Object.prototype, against a server with no client keys (where the Host and Origin checks apply).
describe('hostile Host, Origin and strings in no-key mode', () => {
  let mock: MockProvider;
  let t: Awaited<ReturnType<typeof testServer>>;
  let port: string;
  let keep: string;
  const PROTO = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

  beforeAll(async () => {
    mock = await startMockProvider();
    t = await testServer({
      providers: { mock: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['sk-fuzz-host-1234'] } },
      models: { chat: [{ provider: 'mock', model: 'gpt-mock' }] },
    });
    port = new URL(t.url).port;
    const res = await fetch(`${t.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'demo.progress', input: { steps: 1, ms: 1 }, delayMs: 600_000 }),
    });
    keep = (await res.json()).id;
  });
  afterAll(async () => {
    await t?.close();
    await mock?.close();
  });

  const loopbackHost = fc
    .constantFrom('127.0.0.1', 'localhost', '[::1]', 'LocalHost', 'app.localhost', '127.9.9.9')
    .map((h) => `${h}:${port}`);
  const hostileHost = fc.oneof(
    fc.domain().map((d) => `${d}:${port}`),
    fc.constantFrom(
      '127.0.0.1.evil.example',
      'localhost.evil.example',
      '0.0.0.0',
      '[::ffff:127.0.0.1]',
      '127.0.0.1:80@evil.example',
      'evil.example',
      '',
    ),
    fc.string({ maxLength: 30 }).map((s) => s.replace(/[^\x21-\x7e]/g, '')),
  );
  const hostileOrigin = fc.oneof(
    fc.webUrl().map((u) => new URL(u).origin),
    fc.constantFrom('null', 'file://', 'http://localhost', 'http://127.0.0.1', 'chrome-extension://abc'),
    fc.string({ maxLength: 30 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
  );
  const controlText = fc
    .tuple(
      fc.string({ maxLength: 10 }),
      fc.constantFrom('\r\n', '\n', '\u0000', '\u001b', '\u007f', '\r', '\t'),
      fc.string({ maxLength: 10 }),
    )
    .map(([a, c, b]) => `${a}${c}${b}`);
  const nameish = fc.oneof(
    controlText,
    fc.constantFrom(...PROTO),
    fc.constantFrom(...PROTO).map((p) => `${p}/x`),
  );

  const send = (method: string, path: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers, setHost: !('host' in headers) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });

  it('refuses every foreign Host on every route, and every cross-origin state change, without a 5xx or an upstream call', async () => {
    const routes: Array<[string, string]> = [
      ['GET', '/healthz'],
      ['GET', '/v1/jobs'],
      ['GET', `/v1/jobs/${keep}`],
      ['POST', '/v1/jobs'],
      ['POST', `/v1/jobs/${keep}/cancel`],
      ['POST', '/v1/chat/completions'],
      ['POST', '/v1/tokens'],
      ['GET', '/dashboard'],
    ];
    mock.reset();
    let chatsLetThrough = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.oneof(loopbackHost, hostileHost),
        fc.option(hostileOrigin, { nil: undefined }),
        async ([method, path], host, origin) => {
          const headers: Record<string, string> = { host, 'content-type': 'application/json' };
          if (origin !== undefined) headers.origin = origin;
          const body =
            method === 'POST'
              ? JSON.stringify(
                  path.includes('chat')
                    ? { model: 'chat', messages: [{ role: 'user', content: 'hi' }] }
                    : path === '/v1/jobs'
                      ? { task: 'demo.progress', input: { steps: 1, ms: 1 } }
                      : {},
                )
              : undefined;
          const res = await send(method, path, headers, body);
          expect(res.status, `${method} ${path} host=${host} origin=${origin}`).toBeLessThan(500);
          const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':')[0]!.toLowerCase().replace(/\.$/, '');
          const loopback =
            host !== '' && (name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127(\.\d{1,3}){3}$/.test(name));
          const sameOrigin = origin !== undefined && origin.toLowerCase() === `http://${host.toLowerCase()}`;
          if (!loopback && host !== '') expect(res.status, host).toBe(403);
          else if (method === 'POST' && origin !== undefined && !sameOrigin) expect(res.status, origin).toBe(403);
          if (res.status >= 400 && res.text) expect(JSON.parse(res.text).error.code).toMatch(/^TL_ERR_/);
          if (path === '/v1/chat/completions' && res.status < 400) chatsLetThrough++;
        },
      ),
      { numRuns: 200, seed: 29 },
    );
    // Only the chat calls that passed the checks reached the provider (the cache is off for them: no seed).
    expect(mock.calls.length).toBeLessThanOrEqual(chatsLetThrough);
  }, 60_000);

  it('answers control characters and prototype names in every string field with a 4xx, before any upstream call', async () => {
    mock.reset();
    const fields = fc.oneof(
      nameish.map((v) => ['/v1/chat/completions', { model: v, messages: [{ role: 'user', content: 'hi' }] }] as const),
      nameish.map((v) => ['/v1/chat/completions', { model: 'chat', messages: [{ role: v, content: 'hi' }] }] as const),
      nameish.map((v) => ['/v1/jobs', { task: v, input: {} }] as const),
      nameish.map((v) => ['/v1/jobs', { task: 'demo.progress', input: { steps: 1, ms: 1 }, idempotencyKey: v, delayMs: 600_000 }] as const),
      nameish.map((v) => ['/v1/tokens', { scopes: [v] }] as const),
      nameish.map((v) => ['/v1/tokens', { jobs: [v] }] as const),
    );
    await fc.assert(
      fc.asyncProperty(fields, async ([path, body]) => {
        const res = await send('POST', path, { 'content-type': 'application/json' }, JSON.stringify(body));
        expect(res.status, `${path} ${JSON.stringify(body)}`).toBeLessThan(500);
        if (res.status >= 400) expect(JSON.parse(res.text).error.code).toMatch(/^TL_ERR_/);
        if (path === '/v1/chat/completions' && 'model' in body && body.model !== 'chat') expect(res.status).toBeGreaterThanOrEqual(400);
      }),
      { numRuns: 150, seed: 31 },
    );
    await fc.assert(
      fc.asyncProperty(nameish, fc.constantFrom('state', 'task', 'cursor', 'include', 'from'), async (v, field) => {
        const res = await send('GET', `/v1/jobs?${field}=${encodeURIComponent(v)}`, {});
        expect(res.status).toBeLessThan(500);
        const one = await send('GET', `/v1/jobs/${encodeURIComponent(v)}`, {});
        expect([400, 404]).toContain(one.status);
        const events = await send(
          'GET',
          `/v1/jobs/${encodeURIComponent(v)}/events?${field === 'from' ? `from=${encodeURIComponent(v)}` : ''}`,
          {},
        );
        expect([400, 404]).toContain(events.status);
      }),
      { numRuns: 60, seed: 37 },
    );
    expect(mock.calls.length).toBe(0);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  }, 60_000);

  it('refuses WebSocket upgrades from foreign origins and hosts; subscribing to prototype names finds no job', async () => {
    const open = (headers: Record<string, string>) =>
      new Promise<WebSocket | number>((resolve) => {
        const ws = new WebSocket(`${t.url.replace('http', 'ws')}/v1/ws`, { headers });
        ws.once('open', () => resolve(ws));
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('error', () => resolve(0));
      });
    await fc.assert(
      fc.asyncProperty(hostileOrigin, async (origin) => {
        const got = await open({ origin });
        if (typeof got === 'number') expect(got).toBe(403);
        else {
          got.close();
          // Only the server's own origin opens.
          expect(origin.toLowerCase()).toBe(`http://127.0.0.1:${port}`);
        }
      }),
      { numRuns: 30, seed: 41 },
    );
    const ws = await open({});
    expect(ws).toBeInstanceOf(WebSocket);
    const socket = ws as WebSocket;
    const replies: any[] = [];
    socket.on('message', (d) => replies.push(JSON.parse(String(d))));
    for (const p of PROTO) socket.send(JSON.stringify({ op: 'subscribe', jobId: p }));
    await vi.waitFor(() => expect(replies.length).toBe(PROTO.length), { timeout: 5_000 });
    for (const r of replies) expect(r).toMatchObject({ type: 'error', error: { code: 'TL_ERR_JOB_NOT_FOUND' } });
    socket.close();
  }, 60_000);
});
