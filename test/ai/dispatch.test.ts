import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { testServer } from '../support/runtime.js';
import { aiConfig, ask } from './fixtures.js';
import { callGateway, sseText, type GatewayAnswer } from './http.js';

/**
 * The fault scenarios, each over real loopback HTTP against the fault-injecting mock: every one
 * settles in bounded time, never passes a truncated answer as a success, makes a bounded number
 * of upstream calls, lands on the right fallback, and leaves the server answering.
 */

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>>;

async function gateway(over: Parameters<typeof aiConfig>[1] = {}) {
  mock = await startMockProvider();
  t = await testServer(aiConfig(mock.url, over));
  return t.url;
}

afterEach(async () => {
  // Server alive after every scenario.
  if (t) {
    const health = await fetch(`${t.url}/healthz`);
    expect(health.status).toBe(200);
    await t.close();
  }
  await mock?.close();
});

const stream = (text: string, model = 'chat') => ({ ...ask(text, model), stream: true });
const callsFor = (model: string) => mock.calls.filter((c) => c.model === model);

function expectWholeAnswer(r: GatewayAnswer, text: string) {
  expect(r.status).toBe(200);
  if (r.events) {
    expect(r.done).toBe(true);
    expect(sseText(r.events)).toContain(text);
  } else {
    expect(r.json.choices[0].message.content).toContain(text);
  }
}

describe('fallback before the first byte', () => {
  for (const fault of ['503-always', 'flap', 'reset', 'hang', 'slow-first']) {
    for (const mode of ['json', 'stream'] as const) {
      it(`${fault} (${mode}): falls back to the next target within bounds`, async () => {
        const url = await gateway({
          models: {
            r: [
              { provider: 'a', model: `gpt-mock@${fault}` },
              { provider: 'b', model: 'gpt-mock' },
            ],
          },
          ai: { maxAttempts: 2 },
        });
        const r = await callGateway(url, mode === 'stream' ? stream('fall back', 'r') : ask('fall back', 'r'));
        expectWholeAnswer(r, 'fall back');
        expect(r.headers.get('x-tasklane-provider')).toBe('b');
        expect(r.headers.get('x-tasklane-attempts')).toBe('2');
        expect(callsFor(`gpt-mock@${fault}`)).toHaveLength(1);
        expect(r.ms).toBeLessThan(4_000);
      });
    }
  }

  it('500-once: retries the same target after an exponential backoff and succeeds', async () => {
    const url = await gateway({
      models: { r: [{ provider: 'b', model: 'gpt-mock@500-once' }] },
      ai: { backoff: { baseMs: 300, maxMs: 1_000 } },
    });
    const r = await callGateway(url, ask('retry', 'r'));
    expectWholeAnswer(r, 'retry');
    expect(r.headers.get('x-tasklane-attempts')).toBe('2');
    expect(callsFor('gpt-mock@500-once')).toHaveLength(2);
    // Equal jitter: the first retry waits between baseMs/2 and baseMs.
    const [first, second] = callsFor('gpt-mock@500-once');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(140);
  });

  it('every target failing: one TL_ERR_AI_ALL_FAILED listing each attempt, attempts bounded', async () => {
    const url = await gateway({
      models: {
        r: [
          { provider: 'a', model: 'gpt-mock@503-always' },
          { provider: 'b', model: 'gpt-mock@503-always' },
        ],
      },
      ai: { maxAttempts: 3, breaker: { failures: 10, resetMs: 1_000 } },
    });
    const r = await callGateway(url, ask('doomed', 'r'));
    expect(r.status).toBe(502);
    expect(r.json.error.code).toBe('TL_ERR_AI_ALL_FAILED');
    expect(r.json.error.details.reason).toBe('maxAttemptsExceeded');
    expect(r.json.error.details.attempts).toHaveLength(3);
    expect(r.json.error.details.attempts[0]).toMatchObject({ provider: 'a', model: 'gpt-mock@503-always', status: 503 });
    // One same-target retry (retries: 1), then the next target.
    expect(r.json.error.details.attempts[1]).toMatchObject({ provider: 'a' });
    expect(r.json.error.details.attempts[2]).toMatchObject({ provider: 'b' });
    expect(r.headers.get('x-tasklane-attempts')).toBe('3');
    expect(mock.calls).toHaveLength(3);
    expect(r.text).not.toContain('key-');
  });
});

describe('keys: rate limits and refusals', () => {
  it('429 with Retry-After cools that key; the other key answers; the cooled key is not called before its time', async () => {
    const url = await gateway({ models: { r: [{ provider: 'a', model: 'gpt-mock' }] } });
    mock.faultForKey('key-a0', '429');
    const r = await callGateway(url, ask('cool', 'r'));
    expectWholeAnswer(r, 'cool');
    expect(r.headers.get('x-tasklane-key-index')).toBe('1');
    for (let i = 0; i < 6; i++) {
      const again = await callGateway(url, ask(`again ${i}`, 'r'), { 'cache-control': 'no-cache' });
      expect(again.headers.get('x-tasklane-key-index')).toBe('1');
    }
    expect(mock.callsByKey('key-a0')).toHaveLength(1);
    const health = t.runtime.ai.health().providers.find((p) => p.name === 'a')!;
    // The pair (key 0, gpt-mock) cools, not the key.
    expect(health.keys[0]!.coolingUntil).toBeUndefined();
    expect(health.keys[0]!.models.find((m) => m.model === 'gpt-mock')!.coolingUntil).toBeGreaterThan(Date.now());
  });

  it('a cooled key comes back once its Retry-After has passed', async () => {
    const url = await gateway({ models: { r: [{ provider: 'a', model: 'gpt-mock' }] } });
    mock.faultForKey('key-a0', '429:1');
    await callGateway(url, ask('first', 'r'));
    const until = t.runtime.ai.health().providers[0]!.keys[0]!.models.find((m) => m.model === 'gpt-mock')!.coolingUntil!;
    expect(until - Date.now()).toBeGreaterThan(500);
    for (let i = 0; i < 3; i++) await callGateway(url, ask(`during ${i}`, 'r'));
    expect(mock.callsByKey('key-a0')).toHaveLength(1);
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + 20));
    for (let i = 0; i < 2; i++) await callGateway(url, ask(`after ${i}`, 'r'));
    const back = mock.callsByKey('key-a0');
    expect(back.length).toBeGreaterThan(1);
    expect(back[1]!.at).toBeGreaterThanOrEqual(until);
  });

  it('every key cooling: 429 with Retry-After, and no key is called again meanwhile', async () => {
    const url = await gateway({ models: { r: [{ provider: 'a', model: 'gpt-mock@429-always' }] }, ai: { maxRetryAfterWaitMs: 0 } });
    const r = await callGateway(url, ask('slow down', 'r'));
    expect(r.status).toBe(429);
    expect(r.json.error.code).toBe('TL_ERR_AI_RATE_LIMITED');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.json.error.details.retryAfterMs).toBeGreaterThan(0);
    expect(mock.calls).toHaveLength(2);
    const again = await callGateway(url, ask('slow down again', 'r'));
    expect(again.status).toBe(429);
    expect(mock.calls).toHaveLength(2);
  });

  it('429 with retry-after-ms is honoured too', async () => {
    const url = await gateway({ models: { r: [{ provider: 'a', model: 'gpt-mock' }] } });
    mock.faultForKey('key-a0', '429-ms');
    const r = await callGateway(url, ask('ms', 'r'));
    expectWholeAnswer(r, 'ms');
    const until = t.runtime.ai.health().providers[0]!.keys[0]!.models[0]!.coolingUntil;
    expect(until).toBeGreaterThan(Date.now());
  });

  it('401 disables that key and reports it by index only; the next key answers', async () => {
    const url = await gateway({ models: { r: [{ provider: 'a', model: 'gpt-mock' }] } });
    mock.faultForKey('key-a0', '401');
    const r = await callGateway(url, ask('auth', 'r'));
    expectWholeAnswer(r, 'auth');
    expect(r.headers.get('x-tasklane-key-index')).toBe('1');
    const keys = t.runtime.ai.health().providers[0]!.keys;
    expect(keys[0]).toMatchObject({ disabled: true });
    expect(t.logs.text).toContain('key 0 of a was refused');
    expect(t.logs.text).not.toContain('key-a0');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/tasklane_ai_key_disabled\{provider="a",key_index="0"\} 1/);
    for (let i = 0; i < 3; i++) await callGateway(url, ask(`more ${i}`, 'r'));
    expect(mock.callsByKey('key-a0')).toHaveLength(1);
  });
});

describe('per-key concurrency', () => {
  it('keyConcurrency holds each key to that many calls at once; the others wait for a slot', async () => {
    const url = await gateway({
      models: { r: [{ provider: 'b', model: 'gpt-mock@slow-first:150' }] },
      providers: { b: { keyConcurrency: 1 } },
    });
    const answers = await Promise.all([0, 1, 2].map((i) => callGateway(url, ask(`one at a time ${i}`, 'r'))));
    for (const r of answers) expect(r.status).toBe(200);
    const at = callsFor('gpt-mock@slow-first:150')
      .map((c) => c.at)
      .sort((x, y) => x - y);
    expect(at).toHaveLength(3);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(140);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(140);
  });
});

describe('non-retryable errors return at once', () => {
  for (const [fault, code] of [
    ['context-length', 'TL_ERR_AI_CONTEXT_LENGTH'],
    ['content-filter', 'TL_ERR_AI_CONTENT_FILTER'],
  ] as const) {
    it(`${fault}: ${code}, 400, one upstream call, no fallback`, async () => {
      const url = await gateway({
        models: {
          r: [
            { provider: 'a', model: `gpt-mock@${fault}` },
            { provider: 'b', model: 'gpt-mock' },
          ],
        },
      });
      const r = await callGateway(url, ask('nope', 'r'));
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe(code);
      expect(r.json.error.details.reason).toBe('errorNotRetryable');
      expect(mock.calls).toHaveLength(1);
    });
  }
});

describe('circuit breaker', () => {
  it('opens after repeated failures, skips the target while open, probes once after resetMs', async () => {
    const url = await gateway({
      models: {
        r: [
          { provider: 'a', model: 'gpt-mock@503-always' },
          { provider: 'b', model: 'gpt-mock' },
        ],
      },
      ai: { breaker: { failures: 2, resetMs: 400 } },
    });
    for (let i = 0; i < 2; i++) expectWholeAnswer(await callGateway(url, ask(`trip ${i}`, 'r')), `trip ${i}`);
    expect(callsFor('gpt-mock@503-always')).toHaveLength(2);
    expect(t.runtime.ai.health().breakers.find((b) => b.target === 'a/gpt-mock@503-always')?.state).toBe('open');
    const skipped = await callGateway(url, ask('skip', 'r'));
    expect(skipped.headers.get('x-tasklane-attempts')).toBe('1');
    expect(callsFor('gpt-mock@503-always')).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 450));
    await callGateway(url, ask('probe', 'r'));
    expect(callsFor('gpt-mock@503-always')).toHaveLength(3);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/tasklane_ai_breaker_state\{provider="a",model="gpt-mock@503-always"\} 2/);
  });
});

describe('streams that break', () => {
  for (const fault of ['cut', 'cut-clean', 'stall', 'malformed:3']) {
    it(`${fault} after bytes reached the client: in-band error, no [DONE], bounded time`, async () => {
      const url = await gateway({
        models: {
          r: [
            { provider: 'a', model: `gpt-mock@${fault}` },
            { provider: 'b', model: 'gpt-mock' },
          ],
        },
      });
      const r = await callGateway(url, stream('break me', 'r'));
      expect(r.status).toBe(200);
      expect(r.done).toBe(false);
      const last = r.events!.at(-1);
      expect(last.error.code).toMatch(/^TL_ERR_AI_/);
      expect(r.ms).toBeLessThan(4_000);
      expect(callsFor(`gpt-mock@${fault}`)).toHaveLength(1);
    });
  }

  it('no-done (finish sent, no [DONE]) is a whole answer', async () => {
    const url = await gateway({ models: { r: [{ provider: 'a', model: 'gpt-mock@no-done' }] } });
    const r = await callGateway(url, stream('almost', 'r'));
    expectWholeAnswer(r, 'almost');
  });

  it('continuation: the next target continues from the text already sent', async () => {
    const url = await gateway({
      models: {
        r: {
          targets: [
            { provider: 'a', model: 'gpt-mock@cut' },
            { provider: 'b', model: 'gpt-mock' },
          ],
          continuation: true,
        },
      },
    });
    const r = await callGateway(url, stream('please continue this answer', 'r'));
    expect(r.status).toBe(200);
    expect(r.done).toBe(true);
    const continued = mock.calls.find((c) => c.model === 'gpt-mock' && c.key === 'key-b0');
    expect(continued).toBeDefined();
    const sent = continued!.body.messages.at(-1);
    expect(sent.role).toBe('assistant');
    expect(sseText(r.events).startsWith(sent.content)).toBe(true);
    expect(sseText(r.events).length).toBeGreaterThan(sent.content.length);
  });

  it('continuation rejected: the in-band error names the original break, not the rejection', async () => {
    const url = await gateway({
      models: {
        r: {
          targets: [
            { provider: 'a', model: 'gpt-mock@cut' },
            { provider: 'b', model: 'gpt-mock@prefill-reject' },
          ],
          continuation: true,
        },
      },
    });
    const r = await callGateway(url, stream('continue or not', 'r'));
    expect(r.done).toBe(false);
    const err = r.events!.at(-1).error;
    expect(err.code).toBe('TL_ERR_AI_STREAM_BROKEN');
    expect(callsFor('gpt-mock@prefill-reject')).toHaveLength(1);
  });
});

describe('timeouts', () => {
  it('x-tasklane-timeout-ms bounds the whole request', async () => {
    const url = await gateway({
      models: { r: [{ provider: 'a', model: 'gpt-mock@hang' }] },
      ai: { timeouts: { firstByteMs: 10_000, totalMs: 20_000 } },
    });
    const r = await callGateway(url, ask('hurry', 'r'), { 'x-tasklane-timeout-ms': '300' });
    expect(r.status).toBe(504);
    expect(r.json.error.code).toBe('TL_ERR_AI_TIMEOUT');
    expect(r.ms).toBeLessThan(2_000);
  });
});
