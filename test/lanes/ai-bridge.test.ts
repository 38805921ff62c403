import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { WorkContext } from '../../src/index.js';
import type { AiClient } from '../../src/ai/types.js';
import { aiConfig } from '../ai/fixtures.js';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { fixture, rejection } from './helpers.js';

// The thread bridge end to end: a task in a thread calls ctx.ai, the main thread's orchestrator
// (runtime.ai) calls the mock upstream over loopback HTTP, and the answer goes back to the thread.

let mock: MockProvider;
let t: TestRuntime;
beforeAll(async () => {
  mock = await startMockProvider({ slowMs: 300 });
});
afterAll(async () => {
  await mock.close();
});
beforeEach(async () => {
  mock.reset();
  t = await testRuntime(aiConfig(mock.url));
  // A warm thread: thread start-up is not what these tests time.
  await t.runtime.lanes.run('data', fixture('echo'), null);
});
afterEach(async () => {
  await t.close();
});

describe('ctx.ai from a thread', () => {
  it('chat() goes through runtime.ai on the main thread and its answer comes back to the thread', async () => {
    const out = await t.runtime.lanes.run<any>('data', fixture('ai'), { mode: 'chat', text: 'hi' });
    expect(out).toMatchObject({ content: 'echo: hi', provider: 'a', hasSync: 'function' });
    expect(out.threadId).toBeGreaterThan(0);
    expect(mock.calls).toHaveLength(1);
    expect(mock.calls[0]!.body.messages.at(-1).content).toBe('hi');
  });

  it('generateSync() blocks only its thread: the main loop keeps ticking while the answer is on its way', async () => {
    let last = performance.now();
    let gap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
      ticks++;
    }, 10);
    let out: any;
    try {
      // First byte after 300 ms.
      out = await t.runtime.lanes.run<any>('data', fixture('ai'), { mode: 'sync', text: 'wait', model: 'a/gpt-mock@slow-first:300' });
    } finally {
      clearInterval(timer);
    }
    expect(out.content).toBe('echo: wait');
    expect(out.blockedMs).toBeGreaterThanOrEqual(280);
    expect(out.timerFiredWhileBlocked).toBe(false);
    expect(ticks).toBeGreaterThan(10);
    // Generous: the machine is shared. A blocked main loop would show a gap of 300 ms or more.
    expect(gap).toBeLessThan(200);
  });

  it('errors reach the thread with their code, for chat() and generateSync()', async () => {
    for (const mode of ['chat-error', 'sync-error'] as const) {
      const out = await t.runtime.lanes.run<any>('data', fixture('ai'), { mode, model: 'no-such-model' });
      expect(out.caught).toMatchObject({ code: 'TL_ERR_AI_UNKNOWN_MODEL', retryable: false });
      const filtered = await t.runtime.lanes.run<any>('data', fixture('ai'), { mode, model: 'a/gpt-mock@content-filter' });
      expect(filtered.caught.code).toBe('TL_ERR_AI_CONTENT_FILTER');
    }
  });

  it('the upstream call is aborted when the task running it times out', async () => {
    const err = await rejection(
      t.runtime.lanes.run('data', fixture('ai'), { mode: 'chat-hang', model: 'a/gpt-mock@hang' }, { timeoutMs: 500 }),
    );
    expect(err.code).toBe('TL_ERR_LANE_TIMEOUT');
    const call = await mock.waitForCall(() => true);
    await mock.waitForAbort(call, 3_000);
  });

  it('a thread gets a clear error when the runtime has no AI client', async () => {
    const runtime = t.runtime as unknown as { ai?: AiClient };
    const saved = runtime.ai;
    runtime.ai = undefined;
    try {
      const out = await t.runtime.lanes.run<any>('data', fixture('ai'), { mode: 'chat-error' });
      expect(out.caught.code).toBe('TL_ERR_RUNTIME_STATE');
      const sync = await t.runtime.lanes.run<any>('data', fixture('ai'), { mode: 'sync-error' });
      expect(sync.caught.code).toBe('TL_ERR_RUNTIME_STATE');
    } finally {
      runtime.ai = saved;
    }
  });
});

describe('ctx.ai on the loop', () => {
  it('is runtime.ai, has no generateSync, and its calls end with the task', async () => {
    const out = await t.runtime.lanes.run(
      'ai',
      async (_: null, ctx: WorkContext) => {
        const r = await ctx.ai.chat({ model: 'chat', messages: [{ role: 'user', content: 'loop' }] });
        return { content: r.completion.choices[0]!.message.content, sync: typeof ctx.ai.generateSync };
      },
      null,
    );
    expect(out).toEqual({ content: 'echo: loop', sync: 'undefined' });
    mock.reset();
    const err = await rejection(
      t.runtime.lanes.run(
        'ai',
        (_: null, ctx: WorkContext) => ctx.ai.chat({ model: 'a/gpt-mock@hang', messages: [{ role: 'user', content: 'x' }] }),
        null,
        { timeoutMs: 300 },
      ),
    );
    expect(err.code).toBe('TL_ERR_LANE_TIMEOUT');
    await mock.waitForAbort(await mock.waitForCall(() => true), 3_000);
  });
});
