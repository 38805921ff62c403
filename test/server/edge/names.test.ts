/**
 * Issue 18 points 6 and 12: a model name that would become a header with a control character in
 * it is a 400 before any upstream call (plain and streamed); names from the prototype of a plain
 * object (constructor, __proto__, toString...) are unknown names, never a provider, task or lane.
 */
import { validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerValue, headerValues, hasControlCharacters } from '../../../src/server/streams/header-values.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';
import { raw } from './raw-http.js';

const PROTO_NAMES = [
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  '__defineGetter__',
  'propertyIsEnumerable',
  'toLocaleString',
];

describe('names at the edge', () => {
  let mock: MockProvider;
  let t: Awaited<ReturnType<typeof testServer>>;
  beforeAll(async () => {
    mock = await startMockProvider();
    t = await testServer({
      providers: { mock: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['sk-names-123456'] } },
      models: { chat: [{ provider: 'mock', model: 'gpt-mock' }] },
    });
  });
  afterAll(async () => {
    await t?.close();
    await mock?.close();
  });

  const chat = (model: string, stream = false) =>
    raw(t.url, {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] }),
    });

  it('refuses a model name with CR, LF, NUL or another control character before paying, plain and streamed', async () => {
    mock.reset();
    for (const model of ['mock/gpt\r\nx-evil: 1', 'mock/gpt\n', 'mock/gpt\u0000', 'mock/\u001bgpt', 'chat\r', 'mock/gpt\u007f']) {
      for (const stream of [false, true]) {
        const res = await chat(model, stream);
        expect(res.status, JSON.stringify(model)).toBe(400);
        expect(res.json.error).toMatchObject({ code: 'TL_ERR_VALIDATION', message: expect.stringContaining('control character') });
      }
    }
    expect(mock.calls.length).toBe(0);
    // A name with characters a header can carry passes, and its headers are written.
    const ok = await chat('mock/gpt-mock', true);
    expect(ok.status).toBe(200);
    expect(ok.headers['x-tasklane-model']).toBe('gpt-mock');
    expect(ok.text).toContain('[DONE]');
  });

  it('answers 404 unknown model for prototype names as provider or alias, and calls nothing', async () => {
    mock.reset();
    for (const name of PROTO_NAMES) {
      for (const model of [`${name}/x`, name]) {
        const res = await chat(model);
        expect(res.status, model).toBe(404);
        expect(res.json.error.code).toBe('TL_ERR_AI_UNKNOWN_MODEL');
      }
    }
    expect(mock.calls.length).toBe(0);
  });

  it('answers 404 unknown task for prototype names, and never a 5xx for them in any name field', async () => {
    for (const name of PROTO_NAMES) {
      const res = await raw(t.url, {
        method: 'POST',
        path: '/v1/jobs',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task: name, input: {} }),
      });
      expect(res.status, name).toBe(404);
      expect(res.json.error.code).toBe('TL_ERR_JOB_UNKNOWN_TASK');
    }
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...PROTO_NAMES),
        fc.constantFrom('task', 'state', 'cursor', 'include', 'id', 'idempotencyKey', 'scopes'),
        async (name, field) => {
          let res;
          if (field === 'task' || field === 'state' || field === 'cursor' || field === 'include')
            res = await raw(t.url, { path: `/v1/jobs?${field}=${encodeURIComponent(name)}` });
          else if (field === 'id') res = await raw(t.url, { path: `/v1/jobs/${encodeURIComponent(name)}` });
          else if (field === 'scopes')
            res = await raw(t.url, {
              method: 'POST',
              path: '/v1/tokens',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ scopes: [name] }),
            });
          else
            res = await raw(t.url, {
              method: 'POST',
              path: '/v1/jobs',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ task: 'demo.progress', input: { steps: 1, ms: 1 }, [field]: name }),
            });
          expect(res.status, `${field}=${name}`).toBeLessThan(500);
          if (res.status >= 400) expect(res.json.error.code).toMatch(/^TL_ERR_/);
        },
      ),
      { numRuns: 40, seed: 5 },
    );
  });
});

describe('header values', () => {
  it('are made safe whatever they hold, so a header write never throws', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 50 }), (v) => {
        expect(() => validateHeaderValue('x-test', headerValue(v))).not.toThrow();
        expect(headerValues({ a: v }).a).toBe(headerValue(v));
      }),
      { numRuns: 200, seed: 3 },
    );
    expect(hasControlCharacters('a\tb')).toBe(true);
    expect(hasControlCharacters('llama-3.1-8b-instant')).toBe(false);
  });
});
