/**
 * Seed 000: a synchronous `generate()` ran the event loop inside the server's running loop
 * ("This event loop is already running"), patched with nest-asyncio. Here questions come from
 * an async handler and from synchronous code in a worker thread (`ctx.ai.generateSync()`), a
 * rate-limited key and a failing provider are routed around, a repeated prompt is a cache hit,
 * and the event loop keeps ticking every 10 ms throughout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../../test/support/mock-provider.js';
import { LogCapture, tempDir } from '../../test/support/runtime.js';
import { startInterview } from './app.js';
import type { Question } from './questions.js';

const GROQ_KEYS = ['gsk-interview-1', 'gsk-interview-2', 'gsk-interview-3'];
const HF_KEYS = ['hf-interview-1', 'hf-interview-2'];

interface Session {
  sessionId: string;
  mode: string;
  questions: Question[];
}

/** Ticks every 10 ms on the test's (and the server's) event loop; reports the longest gap. */
function ticker(): { stop(): { ticks: number; maxGapMs: number; spanMs: number } } {
  let last = performance.now();
  const first = last;
  let maxGapMs = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    ticks++;
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return { ticks, maxGapMs, spanMs: performance.now() - first };
    },
  };
}

describe('interview (seed 000)', () => {
  let groq: MockProvider;
  let hf: MockProvider;
  let app: Awaited<ReturnType<typeof startInterview>> | undefined;
  let tmp: ReturnType<typeof tempDir> | undefined;
  let logs: LogCapture;

  afterEach(async () => {
    await app?.close();
    await Promise.all([groq?.close(), hf?.close()]);
    tmp?.remove();
    app = tmp = undefined;
  });

  async function start(mockOptions: Parameters<typeof startMockProvider>[0] = {}) {
    [groq, hf] = await Promise.all([startMockProvider(mockOptions), startMockProvider(mockOptions)]);
    tmp = tempDir('interview-');
    logs = new LogCapture();
    app = await startInterview({
      providers: { groq: { baseURL: `${groq.url}/v1`, apiKeys: GROQ_KEYS }, huggingface: { baseURL: `${hf.url}/hf/v1`, apiKeys: HF_KEYS } },
      // Backoff kept short so fallbacks are quick; the breaker must not open during one test.
      config: { server: { port: 0 }, data: tmp.dir, ai: { backoff: { baseMs: 10, maxMs: 50 }, breaker: { failures: 50 } } },
      logDestination: logs,
    });
    return app;
  }

  async function create(url: string, body: Record<string, unknown>): Promise<Session> {
    const res = await fetch(`${url}/interviews`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Session & { error?: unknown };
    expect(res.status, JSON.stringify(json)).toBe(201);
    return json;
  }

  it('routes around a rate-limited key, then a failing provider, and serves a repeated prompt from cache', async () => {
    const { url } = await start();
    groq.faultForKey(GROQ_KEYS[0]!, '429-always');
    const tick = ticker();

    const first = await create(url, { role: 'Software Engineer', difficulty: 'Easy' });
    expect(first.questions).toHaveLength(5);
    for (const [i, q] of first.questions.entries()) {
      expect(q.number).toBe(i + 1);
      expect(q.text).toContain(`Question ${i + 1} of 5`);
      expect(q.text).toContain('Easy Software Engineer interview');
      // Key #0 is rate-limited: every question came from Groq's other keys.
      expect(q.served.provider).toBe('groq');
      expect([1, 2]).toContain(q.served.keyIndex);
      expect(q.served.cache).toBe('miss');
    }
    // The limited key was tried, then cooled down after its 429 instead of being hammered.
    expect(groq.callsByKey(GROQ_KEYS[0]!).length).toBeGreaterThanOrEqual(1);
    expect(groq.callsByKey(GROQ_KEYS[0]!).length).toBeLessThanOrEqual(3);

    // Now Groq fails on every key: the route falls through to Hugging Face.
    for (const key of GROQ_KEYS) groq.faultForKey(key, '503-always');
    const second = await create(url, { role: 'Data Scientist', difficulty: 'Hard' });
    expect(second.questions).toHaveLength(5);
    for (const q of second.questions) {
      expect(q.served.provider).toBe('huggingface');
      expect([0, 1]).toContain(q.served.keyIndex);
      expect(q.text).toContain('Hard Data Scientist interview');
    }
    expect(hf.calls.filter((c) => c.path.endsWith('/chat/completions')).length).toBe(5);

    // The same prompts again: answered from the cache, no upstream call at all.
    const before = groq.calls.length + hf.calls.length;
    const again = await create(url, { role: 'Software Engineer', difficulty: 'Easy' });
    expect(again.questions.map((q) => q.served.cache)).toEqual(['hit', 'hit', 'hit', 'hit', 'hit']);
    expect(again.questions.map((q) => q.text)).toEqual(first.questions.map((q) => q.text));
    expect(groq.calls.length + hf.calls.length).toBe(before);

    const loop = tick.stop();
    expect(loop.maxGapMs).toBeLessThan(500);
    // Keys never reach the logs.
    for (const key of [...GROQ_KEYS, ...HF_KEYS]) expect(logs.text).not.toContain(key);
  });

  it('runs the synchronous generator in a thread: generateSync blocks that thread, never the loop', async () => {
    // Every upstream answer takes 200 ms, so the five blocking calls hold a thread ~1 s: run on
    // the loop, they would stop it that long.
    const { url } = await start({ slowMs: 200 });
    for (const key of GROQ_KEYS) groq.faultForKey(key, 'slow-first');
    groq.faultForKey(GROQ_KEYS[0]!, '429-always');

    const tick = ticker();
    const t0 = performance.now();
    const [sync, other] = await Promise.all([
      create(url, { role: 'Backend Developer', difficulty: 'Medium', mode: 'sync' }),
      create(url, { role: 'Frontend Developer', difficulty: 'Medium', mode: 'sync' }),
    ]);
    const elapsed = performance.now() - t0;
    const loop = tick.stop();

    for (const session of [sync, other]) {
      expect(session.mode).toBe('sync');
      expect(session.questions).toHaveLength(5);
      for (const q of session.questions) {
        expect(q.served.provider).toBe('groq');
        expect([1, 2]).toContain(q.served.keyIndex);
      }
    }
    expect(sync.questions[0]!.text).toContain('Medium Backend Developer interview');
    // Sequential blocking calls really happened (5 x 200 ms per thread)...
    expect(elapsed).toBeGreaterThan(950);
    // ...while the main loop kept its 10 ms beat (the bound leaves room for a busy machine).
    expect(loop.maxGapMs).toBeLessThan(500);
    expect(loop.ticks).toBeGreaterThan((loop.spanMs / 10) * 0.5);

    // Keys, cache and limits are global: the async handler gets the thread's answers from cache.
    const cached = await create(url, { role: 'Backend Developer', difficulty: 'Medium' });
    expect(cached.questions.map((q) => q.served.cache)).toEqual(['hit', 'hit', 'hit', 'hit', 'hit']);
  });

  it('answers a bad request with 400 naming the field', async () => {
    const { url } = await start();
    const res = await fetch(`${url}/interviews`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'x', difficulty: 'Impossible' }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('TL_ERR_VALIDATION');
    expect(body.error.message).toMatch(/^difficulty: /);
  });
});
