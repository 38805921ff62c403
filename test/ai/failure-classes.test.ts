import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import type { ConfigInput } from '../../src/index.js';
import { FAILURE_TABLE, failureClass } from '../../src/ai/failure-policy.js';
import { ProviderError } from '../../src/errors.js';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { testServer } from '../support/runtime.js';
import { ask } from './fixtures.js';
import { callGateway, sseText, type GatewayAnswer } from './http.js';

/**
 * One test per row of the failure-class table (src/ai/failure-policy.ts, docs/ai.md), on the
 * commonest deployment there is: one provider, one key, a route `[primary, fallback]` on that same
 * provider. Each asserts what the caller got (status, body, x-tasklane-attempts), what the
 * upstream saw (calls per model, the gaps between them), and that a third, healthy model on the
 * same key answers at once afterwards (no carry-over).
 */

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

type Models = NonNullable<ConfigInput['models']>;

function oneKey(url: string, models: Models, ai: Record<string, unknown> = {}, provider: Record<string, unknown> = {}): ConfigInput {
  return {
    providers: {
      p: { type: 'openai-compatible', baseURL: `${url}/v1`, apiKeys: ['key-p0'], prefill: true, ...provider },
    } as ConfigInput['providers'],
    models: { third: [{ provider: 'p', model: 'third-model' }], ...models },
    ai: {
      maxAttempts: 3,
      cache: { enabled: false },
      singleFlight: false,
      backoff: { baseMs: 100, maxMs: 400 },
      timeouts: { connectMs: 500, firstByteMs: 800, idleChunkMs: 500, totalMs: 5_000 },
      breaker: { failures: 5, resetMs: 500, maxResetMs: 1_000 },
      defaultCooldownMs: 1_500,
      ...ai,
    } as ConfigInput['ai'],
  };
}

/** primary + fallback on the same provider and key. */
const pair = (primary: string, extra: Record<string, unknown> = {}, fallback: Record<string, unknown> = {}): Models => ({
  r: [
    { provider: 'p', model: primary, ...extra },
    { provider: 'p', model: 'ok-model', ...fallback },
  ] as Models[string],
});

async function gateway(models: Models, ai: Record<string, unknown> = {}, provider: Record<string, unknown> = {}): Promise<string> {
  mock = await startMockProvider({ retryAfterSeconds: 1 });
  t = await testServer(oneKey(mock.url, models, ai, provider));
  return t.url;
}

const calls = (model: string) => mock.calls.filter((c) => c.model === model && c.path.endsWith('/chat/completions'));
const stream = (text: string, model = 'r') => ({ ...ask(text, model), stream: true });
const gaps = (model: string) =>
  calls(model)
    .slice(1)
    .map((c, i) => c.at - calls(model)[i]!.at);

function whole(r: GatewayAnswer, text: string, served: string): void {
  expect(r.status).toBe(200);
  if (r.events) {
    expect(r.done).toBe(true);
    expect(sseText(r.events)).toContain(text);
  } else expect(r.json.choices[0].message.content).toContain(text);
  expect(r.headers.get('x-tasklane-model')).toBe(served);
}

/** The healthy third model on the same key answers at once, with one attempt and no wait. */
async function thirdIsFine(url: string): Promise<void> {
  for (const body of [ask('healthy', 'third'), stream('healthy', 'third')]) {
    const before = calls('third-model').length;
    const r = await callGateway(url, body);
    whole(r, 'healthy', 'third-model');
    expect(r.headers.get('x-tasklane-attempts')).toBe('1');
    expect(r.headers.get('x-tasklane-waited-ms')).toBeNull();
    expect(r.ms).toBeLessThan(5_000);
    expect(calls('third-model')).toHaveLength(before + 1);
  }
}

describe('the table itself', () => {
  it('classifies every provider error kind and phase, and every class has a rule', () => {
    const e = (details: Record<string, unknown>) => new ProviderError('TL_ERR_AI_PROVIDER', 'x', { details });
    expect(failureClass(e({ kind: 'timeout', phase: 'connect' }))).toBe('timeout-connect');
    expect(failureClass(e({ kind: 'timeout', phase: 'first_byte' }))).toBe('timeout-first-byte');
    expect(failureClass(e({ kind: 'timeout', phase: 'idle' }))).toBe('timeout-idle');
    expect(failureClass(e({ kind: 'timeout', phase: 'total' }))).toBe('timeout-total');
    expect(failureClass(e({ kind: 'connect', network: 'ECONNRESET' }))).toBe('reset');
    expect(failureClass(e({ kind: 'connect', network: 'ECONNREFUSED' }))).toBe('connect');
    expect(failureClass(e({ kind: 'auth', status: 401 }))).toBe('auth');
    expect(failureClass(e({ kind: 'forbidden', status: 403 }))).toBe('forbidden');
    expect(failureClass(e({ kind: 'aborted' }))).toBeUndefined();
    expect(FAILURE_TABLE['timeout-connect']).toMatchObject({ retrySame: 'if-retryOnTimeout', next: 'yes' });
    expect(FAILURE_TABLE.content_filter.next).toBe('if-fallbackOn');
  });

  it('docs/ai.md lists every class of the code table, and its worked example and the README example are valid configs', () => {
    const docs = readFileSync(new URL('../../docs/ai.md', import.meta.url), 'utf8');
    for (const cls of Object.keys(FAILURE_TABLE)) expect(docs).toContain(`| \`${cls}\` |`);
    const example = /### Worked example[\s\S]*?```json\n([\s\S]*?)```/.exec(docs)![1]!;
    expect(() => configSchema.parse(JSON.parse(example))).not.toThrow();
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const config = /## Configuration[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)![1]!;
    expect(() => configSchema.parse(JSON.parse(config))).not.toThrow();
  });
});

describe('rate_limit (429)', () => {
  it('cools only (key, model): the fallback on the same key answers at once, and so does every other model', async () => {
    const url = await gateway(pair('m@429:5'));
    for (const body of [ask('limited', 'r'), stream('limited again', 'r')]) {
      const r = await callGateway(url, body);
      whole(r, 'limited', 'ok-model');
      // No wait for the cooling primary (5 s): the fallback serves now.
      expect(r.headers.get('x-tasklane-waited-ms')).toBeNull();
      expect(r.ms).toBeLessThan(3_000);
    }
    // The first request met the 429 (2 attempts); the second skipped the cooling pair (1 attempt).
    expect(calls('m@429:5')).toHaveLength(1);
    expect(calls('ok-model')).toHaveLength(2);
    const pairs = t!.runtime.ai.health().providers[0]!.keys[0]!;
    expect(pairs.coolingUntil).toBeUndefined();
    expect(pairs.models.find((m) => m.model === 'm@429:5')?.coolingUntil).toBeGreaterThan(Date.now() + 3_000);
    await thirdIsFine(url);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/tasklane_ai_key_cooldowns_total\{provider="p",key_index="0",model="m@429:5",scope="model"\} 1/);
  });

  it('a short Retry-After with nothing else to serve is waited out (not an attempt), then the same target answers', async () => {
    const url = await gateway({ r: [{ provider: 'p', model: 'm@429' }] });
    const r = await callGateway(url, ask('wait for me', 'r'));
    whole(r, 'wait for me', 'm@429');
    expect(r.headers.get('x-tasklane-attempts')).toBe('2');
    expect(Number(r.headers.get('x-tasklane-waited-ms'))).toBeGreaterThanOrEqual(900);
    expect(calls('m@429')).toHaveLength(2);
    expect(gaps('m@429')[0]).toBeGreaterThanOrEqual(990);
    await thirdIsFine(url);
  });

  it('rateLimitScope "key" cools the whole key: the fallback on that key is skipped too', async () => {
    const url = await gateway(pair('m@429'), { maxRetryAfterWaitMs: 0 }, { rateLimitScope: 'key' });
    const r = await callGateway(url, ask('scoped', 'r'));
    expect(r.status).toBe(429);
    expect(r.json.error.code).toBe('TL_ERR_AI_RATE_LIMITED');
    expect(r.headers.get('retry-after')).toBe('1');
    expect(r.headers.get('x-tasklane-attempts')).toBe('1');
    expect(calls('ok-model')).toHaveLength(0);
    expect(t!.runtime.ai.health().providers[0]!.keys[0]!.coolingUntil).toBeGreaterThan(Date.now());
  });

  it('persistent 429s never hammer: at most about one call per second per pair, then 429 with Retry-After', async () => {
    const url = await gateway({ r: [{ provider: 'p', model: 'm@429-always' }] }, { maxRetryAfterWaitMs: 2_500 });
    const r = await callGateway(url, ask('stop', 'r'));
    expect(r.status).toBe(429);
    expect(r.json.error.code).toBe('TL_ERR_AI_RATE_LIMITED');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(r.headers.get('x-tasklane-waited-ms'))).toBeGreaterThanOrEqual(1_800);
    expect(calls('m@429-always')).toHaveLength(3);
    for (const gap of gaps('m@429-always')) expect(gap).toBeGreaterThanOrEqual(990);
    await thirdIsFine(url);
  });

  it('a 429 without Retry-After cools for ai.defaultCooldownMs (and at least ai.minCooldownMs)', async () => {
    const url = await gateway(
      { r: [{ provider: 'p', model: 'bare' }] },
      { maxRetryAfterWaitMs: 0, minCooldownMs: 500, defaultCooldownMs: 1_500 },
    );
    mock.respond((c) => (c.model === 'bare' ? { status: 429, body: { error: { message: 'slow down', type: 'requests' } } } : undefined));
    const r = await callGateway(url, ask('bare', 'r'));
    expect(r.status).toBe(429);
    // defaultCooldownMs with jitter (80-100 %).
    expect(r.json.error.details.retryAfterMs).toBeGreaterThan(1_100);
    expect(r.json.error.details.retryAfterMs).toBeLessThanOrEqual(1_500);
    await thirdIsFine(url);
  });

  it('a wait is abortable: the caller leaving ends it (no further call), and close() ends it at once', async () => {
    const url = await gateway({ r: [{ provider: 'p', model: 'm@429:5' }] });
    const controller = new AbortController();
    const leaving = callGateway(url, ask('leave', 'r'), {}, controller.signal).catch((e: Error) => e);
    await mock.waitForCall((c) => c.model === 'm@429:5');
    await new Promise((r) => setTimeout(r, 200));
    controller.abort();
    expect(await leaving).toBeInstanceOf(Error);
    const ai = t!.runtime.ai;
    const waiting = ai.chat(ask('closing', 'r')).catch((e: { code?: string }) => e);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    await t!.close();
    t = undefined;
    expect(await waiting).toMatchObject({ code: 'TL_ERR_RUNTIME_CLOSED' });
    expect(performance.now() - t0).toBeLessThan(5_000);
    // Nobody called the cooling pair again.
    expect(calls('m@429:5')).toHaveLength(1);
  });
});

describe('auth (401) and forbidden (403)', () => {
  it('401 disables the key for every model and re-probes it with /models on a doubling backoff; back once it answers', async () => {
    const url = await gateway(pair('m'), { authReprobeMs: 200, authReprobeMaxMs: 1_000 });
    mock.faultForKey('key-p0', '401');
    const r = await callGateway(url, ask('bad key', 'r'));
    expect(r.status).toBe(502);
    expect(r.json.error.code).toBe('TL_ERR_AI_ALL_FAILED');
    expect(r.headers.get('x-tasklane-attempts')).toBe('1');
    expect(r.text).not.toContain('key-p0');
    const k = t!.runtime.ai.health().providers[0]!.keys[0]!;
    expect(k.disabled).toBe(true);
    expect(k.reprobeAt).toBeGreaterThan(Date.now() - 50);
    // Disabled for every model: the third model is not called either.
    const third = await callGateway(url, ask('also', 'third'));
    expect(third.status).toBe(503);
    expect(calls('third-model')).toHaveLength(0);
    // Re-probes at ~200 ms, then ~400 ms (still refused), then the key is fixed.
    await waitFor(() => mock.listCalls.length >= 2, 3_000);
    expect(mock.listCalls[1]!.at - mock.listCalls[0]!.at).toBeGreaterThanOrEqual(350);
    mock.faultForKey('key-p0', undefined);
    await waitFor(() => !t!.runtime.ai.health().providers[0]!.keys[0]!.disabled, 3_000);
    await thirdIsFine(url);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/tasklane_ai_key_disabled\{provider="p",key_index="0"\} 0/);
  });

  it('403 refuses only (key, model): the fallback and every other model on the key still answer; the reason reaches the caller', async () => {
    const url = await gateway(pair('m@403'), { refusalMs: 60_000 });
    const r = await callGateway(url, ask('refused', 'r'));
    whole(r, 'refused', 'ok-model');
    expect(r.headers.get('x-tasklane-attempts')).toBe('2');
    // The refused pair is skipped without a call while it lasts.
    const again = await callGateway(url, ask('refused again', 'r'));
    expect(again.headers.get('x-tasklane-attempts')).toBe('1');
    expect(calls('m@403')).toHaveLength(1);
    const k = t!.runtime.ai.health().providers[0]!.keys[0]!;
    expect(k.disabled).toBe(false);
    expect(k.models.find((m) => m.model === 'm@403')).toMatchObject({
      refusedUntil: expect.any(Number),
      refusedReason: expect.stringContaining('do not have access'),
    });
    await thirdIsFine(url);
  });

  it('a client-chosen provider/model that answers 403 (or 401) never takes the key away from other models', async () => {
    const url = await gateway({}, { refusalMs: 60_000 });
    const r = await callGateway(url, ask('mine', 'p/secret@403'));
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('TL_ERR_AI_REFUSED');
    expect(r.json.error.message).toContain('do not have access');
    expect(r.headers.get('x-tasklane-attempts')).toBe('1');
    const again = await callGateway(url, ask('mine', 'p/secret@403'));
    expect(again.status).toBe(403);
    expect(again.json.error.message).toContain('do not have access');
    expect(calls('secret@403')).toHaveLength(1);
    const r401 = await callGateway(url, ask('mine', 'p/other@401'));
    expect(r401.status).toBe(502);
    expect(t!.runtime.ai.health().providers[0]!.keys[0]!.disabled).toBe(false);
    await thirdIsFine(url);
    const direct = await callGateway(url, ask('direct fine', 'p/ok-model'));
    whole(direct, 'direct fine', 'ok-model');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/tasklane_ai_refused_pairs\{provider="p",key_index="0"\} 2/);
  });
});

describe('transient failures: same target first, then the next', () => {
  it('server (500 once): one same-target retry after a backoff answers; no fallback', async () => {
    const url = await gateway(pair('m@500-once'));
    const r = await callGateway(url, ask('blip', 'r'));
    whole(r, 'blip', 'm@500-once');
    expect(r.headers.get('x-tasklane-attempts')).toBe('2');
    expect(calls('m@500-once')).toHaveLength(2);
    expect(gaps('m@500-once')[0]).toBeGreaterThanOrEqual(45); // equal jitter: at least baseMs / 2
    expect(calls('ok-model')).toHaveLength(0);
    await thirdIsFine(url);
  });

  it('server (503 always): retried once, then the fallback', async () => {
    const url = await gateway(pair('m@503-always'));
    for (const body of [ask('down', 'r'), stream('down', 'r')]) {
      const r = await callGateway(url, body);
      whole(r, 'down', 'ok-model');
      expect(r.headers.get('x-tasklane-attempts')).toBe('3');
    }
    expect(calls('m@503-always')).toHaveLength(4);
    await thirdIsFine(url);
  });

  it('reset: retried once, then the fallback; the attempts say "reset"', async () => {
    const url = await gateway(pair('m@reset'), { maxAttempts: 2 });
    const r = await callGateway(url, ask('reset', 'r'));
    // maxAttempts 2 with a fallback left: the retry is skipped so the fallback keeps its attempt.
    whole(r, 'reset', 'ok-model');
    expect(r.headers.get('x-tasklane-attempts')).toBe('2');
    const t2 = await callGateway(url, ask('x', 'p/m@reset'));
    expect(t2.status).toBe(502);
    expect(t2.json.error.details.attempts.map((a: { kind: string }) => a.kind)).toEqual(['reset', 'reset']);
    await thirdIsFine(url);
  });

  it('connect (refused): retried once, then the next target', async () => {
    mock = await startMockProvider();
    const config = oneKey(mock.url, {
      r: [
        { provider: 'dead', model: 'm' },
        { provider: 'p', model: 'ok-model' },
      ],
    });
    (config.providers as Record<string, unknown>).dead = {
      type: 'openai-compatible',
      baseURL: 'http://127.0.0.1:1/v1',
      apiKeys: ['key-d0'],
    };
    t = await testServer(config);
    const r = await callGateway(t.url, ask('refused', 'r'));
    whole(r, 'refused', 'ok-model');
    expect(r.headers.get('x-tasklane-attempts')).toBe('3');
    await thirdIsFine(t.url);
  });

  it('stream_broken before the first byte: retried on the same target', async () => {
    const url = await gateway(pair('m'));
    let n = 0;
    mock.respond((c) =>
      c.model === 'm' && n++ === 0
        ? { raw: 'data: {"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n' }
        : undefined,
    );
    const r = await callGateway(url, stream('again', 'r'));
    whole(r, 'again', 'm');
    expect(r.headers.get('x-tasklane-attempts')).toBe('2');
    expect(calls('m')).toHaveLength(2);
    await thirdIsFine(url);
  });
});

describe('timeouts: a silent target is not retried (unless retryOnTimeout)', () => {
  it('timeout-first-byte (hang): straight to the fallback', async () => {
    const url = await gateway(pair('m@hang'));
    const r = await callGateway(url, ask('silent', 'r'));
    whole(r, 'silent', 'ok-model');
    expect(r.headers.get('x-tasklane-attempts')).toBe('2');
    expect(calls('m@hang')).toHaveLength(1);
    expect(r.ms).toBeLessThan(5_000);
    await thirdIsFine(url);
  });

  it('retryOnTimeout: true retries the silent target once first', async () => {
    const url = await gateway(pair('m@hang', { retryOnTimeout: true }));
    const r = await callGateway(url, ask('silent', 'r'));
    whole(r, 'silent', 'ok-model');
    expect(r.headers.get('x-tasklane-attempts')).toBe('3');
    expect(calls('m@hang')).toHaveLength(2);
  });

  it('timeout-total (a trickle past totalMs): the fallback', async () => {
    const url = await gateway({
      r: {
        targets: [
          { provider: 'p', model: 'm@slow-first:1500' },
          { provider: 'p', model: 'ok-model' },
        ],
        timeouts: { firstByteMs: 3_000, totalMs: 700 },
      },
    });
    const r = await callGateway(url, ask('slow', 'r'));
    whole(r, 'slow', 'ok-model');
    expect(r.headers.get('x-tasklane-attempts')).toBe('2');
    expect(calls('m@slow-first:1500')).toHaveLength(1);
  });

  it('timeout-idle after the first byte: the in-band error, or a continuation on a prefill target', async () => {
    const url = await gateway({
      plain: [
        { provider: 'p', model: 'm@stall' },
        { provider: 'p', model: 'ok-model' },
      ],
      cont: {
        targets: [
          { provider: 'p', model: 'm@stall' },
          { provider: 'p', model: 'ok-model' },
        ],
        continuation: true,
      },
    });
    const broken = await callGateway(url, stream('stall me please', 'plain'));
    expect(broken.status).toBe(200);
    expect(broken.done).toBe(false);
    expect(broken.events!.at(-1).error.code).toBe('TL_ERR_AI_TIMEOUT');
    const continued = await callGateway(url, stream('stall me please', 'cont'));
    expect(continued.done).toBe(true);
    expect(sseText(continued.events)).toBe('echo: stall me please');
    await thirdIsFine(url);
  });
});

describe('malformed events', () => {
  it('one event whose JSON does not parse is skipped and counted; the whole answer arrives', async () => {
    const url = await gateway(pair('m@malformed'));
    const r = await callGateway(url, stream('a little noise in the stream', 'r'));
    whole(r, 'a little noise in the stream', 'm@malformed');
    expect(sseText(r.events)).toBe('echo: a little noise in the stream');
    expect(r.headers.get('x-tasklane-attempts')).toBe('1');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/tasklane_ai_malformed_events_total\{provider="p",model="m@malformed"\} 1/);
    expect(t!.logs.text).toContain('not JSON; skipped');
    expect(t!.logs.text).not.toContain('chatcmpl-broken');
    await thirdIsFine(url);
  });

  it('ai.maxMalformedEvents bad events end the stream as broken (in-band, no [DONE])', async () => {
    const url = await gateway(pair('m@malformed:3'));
    const r = await callGateway(url, stream('a lot of noise in this stream', 'r'));
    expect(r.status).toBe(200);
    expect(r.done).toBe(false);
    expect(r.events!.at(-1).error.code).toBe('TL_ERR_AI_STREAM_BROKEN');
    await thirdIsFine(url);
  });
});

describe('rejections', () => {
  it('context_length moves to a later target with a larger contextWindow', async () => {
    const url = await gateway(pair('m@context-length', { contextWindow: 8_192 }, { contextWindow: 128_000 }));
    const r = await callGateway(url, ask('long', 'r'));
    whole(r, 'long', 'ok-model');
    expect(r.headers.get('x-tasklane-attempts')).toBe('2');
    await thirdIsFine(url);
  });

  it('context_length is final when no later target declares a larger window', async () => {
    const url = await gateway(pair('m@context-length', { contextWindow: 8_192 }, { contextWindow: 8_192 }));
    const r = await callGateway(url, ask('long', 'r'));
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('TL_ERR_AI_CONTEXT_LENGTH');
    expect(r.headers.get('x-tasklane-attempts')).toBe('1');
    expect(calls('ok-model')).toHaveLength(0);
    await thirdIsFine(url);
  });

  it('context_length re-routed to a larger target that is down: "all failed" (502), not the 400', async () => {
    const url = await gateway({
      r: [
        { provider: 'p', model: 'm@context-length', contextWindow: 8_192 },
        { provider: 'p', model: 'big@503-always', contextWindow: 128_000 },
      ],
    });
    const r = await callGateway(url, ask('long', 'r'));
    expect(r.status).toBe(502);
    expect(r.json.error.code).toBe('TL_ERR_AI_ALL_FAILED');
    expect(r.headers.get('x-tasklane-attempts')).toBe('3');
    await thirdIsFine(url);
  });

  it('content_filter is final with the upstream status and reason; fallbackOn opts in', async () => {
    const url = await gateway({
      ...pair('m@content-filter'),
      opt: {
        targets: [
          { provider: 'p', model: 'm@content-filter' },
          { provider: 'p', model: 'ok-model' },
        ],
        fallbackOn: ['content_filter'],
      },
    });
    const r = await callGateway(url, ask('filtered', 'r'));
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('TL_ERR_AI_CONTENT_FILTER');
    expect(r.json.error.message).toContain('content management policy');
    expect(r.headers.get('x-tasklane-attempts')).toBe('1');
    expect(calls('ok-model')).toHaveLength(0);
    const opted = await callGateway(url, ask('filtered', 'opt'));
    whole(opted, 'filtered', 'ok-model');
    await thirdIsFine(url);
  });

  it('bad_request is final with the upstream reason', async () => {
    const url = await gateway(pair('m'));
    mock.respond((c) =>
      c.model === 'm'
        ? { status: 400, body: { error: { message: "Invalid value for 'top_k'", type: 'invalid_request_error' } } }
        : undefined,
    );
    const r = await callGateway(url, ask('bad', 'r'));
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('TL_ERR_AI_BAD_REQUEST');
    expect(r.json.error.message).toContain('top_k');
    expect(r.headers.get('x-tasklane-attempts')).toBe('1');
    await thirdIsFine(url);
  });
});

describe('prefill per target', () => {
  it('continuation only picks targets whose own prefill is true', async () => {
    const url = await gateway({
      r: {
        targets: [
          { provider: 'p', model: 'm@cut' },
          { provider: 'p', model: 'no-prefill', prefill: false },
          { provider: 'p', model: 'ok-model' },
        ],
        continuation: true,
      },
    });
    const r = await callGateway(url, stream('continue me on the right target', 'r'));
    expect(r.done).toBe(true);
    expect(sseText(r.events)).toBe('echo: continue me on the right target');
    expect(calls('no-prefill')).toHaveLength(0);
    expect(calls('ok-model').at(-1)!.body.messages.at(-1).role).toBe('assistant');
  });
});

async function waitFor(pred: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
