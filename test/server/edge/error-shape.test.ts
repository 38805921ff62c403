/**
 * Issue 18 point 11: every error, Fastify's and Node's parser's included, is `{error:{code,message}}`
 * with a TL_ERR_* code; a job id the schema accepts is never cut off by the router; an empty body
 * sent as application/json is accepted where the route takes no body.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer } from '../../support/runtime.js';
import { bodyOf, raw, rawBytes } from './raw-http.js';

describe('one error shape for every refusal', () => {
  let t: Awaited<ReturnType<typeof testServer>>;
  const auth = { authorization: 'Bearer shape-key-123456' };
  beforeAll(async () => {
    t = await testServer({ server: { apiKeys: ['shape-key-123456'], bodyLimitBytes: 10_000 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  const shaped = (body: any, code: string) =>
    expect(body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });

  it('404 for an unknown route, 413 for a large body, 415 for a non-JSON body', async () => {
    const missing = await raw(t.url, { path: '/v1/nope', headers: auth });
    expect(missing.status).toBe(404);
    shaped(missing.json, 'TL_ERR_NOT_FOUND');
    const large = await raw(t.url, {
      method: 'POST',
      path: '/v1/jobs',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'demo.progress', input: 'x'.repeat(20_000) }),
    });
    expect(large.status).toBe(413);
    shaped(large.json, 'TL_ERR_BODY_TOO_LARGE');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await raw(t.url, {
        method: 'POST',
        path: '/v1/jobs',
        headers: { ...auth, 'content-type': type },
        body: '{"task":"demo.progress"}',
      });
      expect(res.status, type).toBe(415);
      shaped(res.json, 'TL_ERR_UNSUPPORTED_MEDIA_TYPE');
      expect(res.json.error.message).toContain('application/json');
    }
  });

  it('431 for headers past 16 KiB and 414 for an id longer than the schema allows, in our shape', async () => {
    const big = await rawBytes(t.url, `GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    shaped(bodyOf(big), 'TL_ERR_HEADERS_TOO_LARGE');
    const long = await raw(t.url, { path: `/v1/jobs/${'a'.repeat(201)}`, headers: auth });
    expect(long.status).toBe(414);
    shaped(long.json, 'TL_ERR_URI_TOO_LONG');
    const malformed = await rawBytes(t.url, 'GARBAGE\r\n\r\n');
    expect(malformed).toMatch(/^HTTP\/1\.1 400 /);
    shaped(bodyOf(malformed), 'TL_ERR_VALIDATION');
  });

  it('ids of 101 to 200 characters reach the route (404 job not found), on every job route', async () => {
    for (const n of [101, 150, 200]) {
      const id = 'j'.repeat(n);
      const get = await raw(t.url, { path: `/v1/jobs/${id}`, headers: auth });
      expect(get.status, `${n}`).toBe(404);
      shaped(get.json, 'TL_ERR_JOB_NOT_FOUND');
      const cancel = await raw(t.url, { method: 'POST', path: `/v1/jobs/${id}/cancel`, headers: auth });
      expect(cancel.status).toBe(404);
      shaped(cancel.json, 'TL_ERR_JOB_NOT_FOUND');
      const events = await raw(t.url, { path: `/v1/jobs/${id}/events`, headers: auth });
      expect(events.status).toBe(404);
      shaped(events.json, 'TL_ERR_JOB_NOT_FOUND');
    }
  });

  it('accepts cancel and retry with content-type: application/json and an empty body', async () => {
    const submit = await raw(t.url, {
      method: 'POST',
      path: '/v1/jobs',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'demo.progress', input: { steps: 1, ms: 1 }, delayMs: 60_000 }),
    });
    expect(submit.status).toBe(201);
    const id = submit.json.id;
    const cancel = await raw(t.url, {
      method: 'POST',
      path: `/v1/jobs/${id}/cancel`,
      headers: { ...auth, 'content-type': 'application/json', 'content-length': '0' },
    });
    expect(cancel.status).toBe(200);
    expect(cancel.json.state).toBe('cancelled');
    const retry = await raw(t.url, {
      method: 'POST',
      path: `/v1/jobs/${id}/retry`,
      headers: { ...auth, 'content-type': 'application/json; charset=utf-8' },
      body: '',
    });
    expect(retry.status).toBe(200);
    expect(retry.json.id).toBe(id);
    // A route that needs a body still says what is missing.
    const empty = await raw(t.url, {
      method: 'POST',
      path: '/v1/jobs',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '',
    });
    expect(empty.status).toBe(400);
    shaped(empty.json, 'TL_ERR_VALIDATION');
  });

  it('answers OpenAI routes in OpenAI shape with our code, auth refusals included', async () => {
    const res = await raw(t.url, {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
    expect(res.json.error).toMatchObject({ code: 'TL_ERR_AUTH_MISSING', type: 'authentication_error', message: expect.any(String) });
  });
});
