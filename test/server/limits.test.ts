import { afterEach, describe, expect, it } from 'vitest';
import type { RoutePlugin } from '../../src/index.js';
import { testServer } from '../support/runtime.js';

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
    t = await testServer({ server: { apiKeys: ['key-one-1234', 'key-two-1234'], rateLimit: { perSecond: 1, burst: 3 } } }, {}, { routes: [echo] });
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
});
