/**
 * Issue 18 point 5: with no client keys, a page in the operator's browser can not use the server:
 * a DNS-rebinding Host is refused, a cross-origin POST or WebSocket is refused, a text/plain
 * "simple request" is refused before it reaches a handler. Same-origin pages, non-browser clients
 * and the names listed in server.allowedHosts / allowedOrigins keep working.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer } from '../../support/runtime.js';
import { raw } from './raw-http.js';

describe('no-key mode is safe from the browser', () => {
  let t: Awaited<ReturnType<typeof testServer>>;
  let port: string;
  let jobId: string;
  beforeAll(async () => {
    t = await testServer({ server: { allowedHosts: ['tasklane.internal'], allowedOrigins: ['http://localhost:5173'] } });
    port = new URL(t.url).port;
    const submit = await raw(t.url, {
      method: 'POST',
      path: '/v1/jobs',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'demo.progress', input: { steps: 1, ms: 1 }, delayMs: 600_000 }),
    });
    expect(submit.status).toBe(201);
    jobId = submit.json.id;
  });
  afterAll(async () => {
    // A refused WebSocket upgrade must not leave its socket open behind close().
    const report = await t.runtime.close({ deadlineMs: 3_000 });
    expect(report.timedOut).toEqual([]);
    await t?.close();
  });

  const state = async () => (await raw(t.url, { path: `/v1/jobs/${jobId}` })).json.state;

  it('refuses a Host that is not loopback, the bound address or allowed, on every route', async () => {
    for (const path of ['/healthz', '/v1/jobs', `/v1/jobs/${jobId}`, '/dashboard', '/v1/admin/overview']) {
      const res = await raw(t.url, { path, headers: { host: `rebind.attacker.example:${port}` } });
      expect(res.status, path).toBe(403);
      expect(res.json.error.code).toBe('TL_ERR_HOST_REFUSED');
      expect(res.json.error.message).toContain('server.allowedHosts');
    }
    const post = await raw(t.url, {
      method: 'POST',
      path: `/v1/jobs/${jobId}/cancel`,
      headers: { host: `rebind.attacker.example:${port}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(post.status).toBe(403);
    expect(await state()).toBe('delayed');
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST.:${port}`,
      `app.localhost:${port}`,
      `[::1]:${port}`,
      `127.0.0.2:${port}`,
      `tasklane.internal:${port}`,
      'tasklane.internal',
    ]) {
      expect((await raw(t.url, { path: '/healthz', headers: { host } })).status, host).toBe(200);
    }
  });

  it('refuses a cross-origin POST and a text/plain simple request; same-origin and allowed origins pass', async () => {
    const cross = await raw(t.url, {
      method: 'POST',
      path: `/v1/jobs/${jobId}/cancel`,
      headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(cross.status).toBe(403);
    expect(cross.json.error.code).toBe('TL_ERR_ORIGIN_REFUSED');
    const nullOrigin = await raw(t.url, {
      method: 'POST',
      path: '/v1/jobs',
      headers: { origin: 'null', 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'demo.progress' }),
    });
    expect(nullOrigin.status).toBe(403);
    const chat = await raw(t.url, {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(chat.status).toBe(403);
    expect(chat.json.error.code).toBe('TL_ERR_ORIGIN_REFUSED');
    // What a cross-site form or fetch(no-cors) sends: no preflight, text/plain.
    const simple = await raw(t.url, {
      method: 'POST',
      path: `/v1/jobs/${jobId}/cancel`,
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(simple.status).toBe(415);
    expect(simple.json.error.code).toBe('TL_ERR_UNSUPPORTED_MEDIA_TYPE');
    const emptyForm = await raw(t.url, {
      method: 'POST',
      path: `/v1/jobs/${jobId}/cancel`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '0' },
    });
    expect(emptyForm.status).toBe(415);
    expect(await state()).toBe('delayed');
    // A cross-origin GET is not state-changing (the browser keeps its answer from the page: no CORS headers).
    expect((await raw(t.url, { path: `/v1/jobs/${jobId}`, headers: { origin: 'https://evil.example' } })).status).toBe(200);

    const same = await raw(t.url, {
      method: 'POST',
      path: '/v1/jobs',
      headers: { origin: `http://127.0.0.1:${port}`, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'demo.progress', input: { steps: 1, ms: 1 } }),
    });
    expect(same.status).toBe(201);
    const allowed = await raw(t.url, {
      method: 'POST',
      path: '/v1/jobs',
      headers: { origin: 'http://localhost:5173', 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'demo.progress', input: { steps: 1, ms: 1 } }),
    });
    expect(allowed.status).toBe(201);
    const cancelled = await raw(t.url, {
      method: 'POST',
      path: `/v1/jobs/${jobId}/cancel`,
      headers: { origin: `http://localhost:${port}`, host: `localhost:${port}` },
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.json.state).toBe('cancelled');
  });

  it('refuses a cross-origin WebSocket upgrade and one under a rebinding Host; same-origin opens', async () => {
    const open = (headers: Record<string, string>) =>
      new Promise<number | 'open'>((resolve) => {
        const ws = new WebSocket(`${t.url.replace('http', 'ws')}/v1/ws`, { headers });
        ws.once('open', () => {
          ws.close();
          resolve('open');
        });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('error', () => resolve(0));
      });
    expect(await open({ origin: 'https://evil.example' })).toBe(403);
    expect(await open({ host: `rebind.attacker.example:${port}` })).toBe(403);
    expect(await open({ origin: `http://127.0.0.1:${port}` })).toBe('open');
    expect(await open({})).toBe('open');
  });
});

describe('with client keys', () => {
  it('does not check Host or Origin (a key is no ambient credential), but bodies must still be JSON', async () => {
    const t = await testServer({ server: { apiKeys: ['guard-key-123456'] } });
    try {
      const auth = { authorization: 'Bearer guard-key-123456' };
      const res = await raw(t.url, {
        method: 'POST',
        path: '/v1/jobs',
        headers: { ...auth, host: 'api.example.com', origin: 'https://app.example.com', 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'demo.progress', input: { steps: 1, ms: 1 } }),
      });
      expect(res.status).toBe(201);
      const plain = await raw(t.url, {
        method: 'POST',
        path: '/v1/jobs',
        headers: { ...auth, 'content-type': 'text/plain' },
        body: '{"task":"demo.progress"}',
      });
      expect(plain.status).toBe(415);
    } finally {
      await t.close();
    }
  });
});
