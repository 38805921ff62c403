import { threadId } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TasklaneError, type WorkContext } from '../../src/index.js';
import type { AiCallOptions, AiClient, ChatRequest, ChatResult } from '../../src/ai/types.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { fixture, rejection } from './helpers.js';

/**
 * The main thread's AI client as the bridge sees it: an AiClient whose answers the test scripts.
 * (The orchestrator behind runtime.ai is tested on its own; here only the thread bridge is.)
 */
class ScriptedAi implements AiClient {
  calls: Array<{ req: ChatRequest; threadId: number; signal?: AbortSignal }> = [];
  answer: (req: ChatRequest, opts: AiCallOptions) => Promise<ChatResult> = async (req) => result(`echo: ${String(req.messages[0]!.content)}`);
  chat(req: ChatRequest, opts: AiCallOptions = {}): Promise<ChatResult> {
    this.calls.push({ req, threadId, signal: opts.signal });
    return this.answer(req, opts);
  }
}

function result(content: string): ChatResult {
  return {
    completion: { id: 'c1', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] },
    meta: { provider: 'scripted', model: 'm', keyIndex: 0, attempts: 1, latencyMs: 1, cache: 'miss' },
  };
}

let t: TestRuntime;
let ai: ScriptedAi;
beforeEach(async () => {
  t = await testRuntime();
  ai = new ScriptedAi();
  (t.runtime as unknown as { ai: AiClient }).ai = ai;
});
afterEach(async () => {
  await t.close();
});

describe('ctx.ai from a thread', () => {
  it('chat() runs on the main thread through runtime.ai and returns its answer to the thread', async () => {
    const out = await t.runtime.lanes.run<any>('data', fixture('ai'), { mode: 'chat', text: 'hi' });
    expect(out).toMatchObject({ content: 'echo: hi', provider: 'scripted', hasSync: 'function' });
    expect(out.threadId).toBeGreaterThan(0);
    expect(ai.calls).toHaveLength(1);
    expect(ai.calls[0]!.threadId).toBe(0);
    expect(ai.calls[0]!.req.messages[0]!.content).toBe('hi');
  });

  it('generateSync() blocks only its thread: the main loop keeps ticking while the answer is on its way', async () => {
    ai.answer = (req) => new Promise((resolve) => setTimeout(() => resolve(result(`late: ${String(req.messages[0]!.content)}`)), 300));
    await t.runtime.lanes.run('data', fixture('echo'), null); // thread start-up is not what is measured
    let last = performance.now();
    let gap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
      ticks++;
    }, 10);
    try {
      const out = await t.runtime.lanes.run<any>('data', fixture('ai'), { mode: 'sync', text: 'wait' });
      expect(out.content).toBe('late: wait');
      expect(out.blockedMs).toBeGreaterThanOrEqual(280);
      expect(out.timerFiredWhileBlocked).toBe(false);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(10);
    // Generous: the machine is shared. A blocked main loop would show a gap of about 300 ms.
    expect(gap).toBeLessThan(200);
  });

  it('errors from runtime.ai reach the thread with their code, for chat() and generateSync()', async () => {
    ai.answer = async () => {
      throw new TasklaneError('TL_ERR_AI_RATE_LIMITED', 'every key of groq is cooling down', { details: { provider: 'groq' } });
    };
    for (const mode of ['chat-error', 'sync-error'] as const) {
      const out = await t.runtime.lanes.run<any>('data', fixture('ai'), { mode });
      expect(out.caught).toEqual({ code: 'TL_ERR_AI_RATE_LIMITED', name: 'TasklaneError', message: 'every key of groq is cooling down', retryable: true });
    }
  });

  it('an AI call in flight is aborted on the main thread when its task times out', async () => {
    ai.answer = (_req, opts) => new Promise((_resolve, reject) => opts.signal?.addEventListener('abort', () => reject(opts.signal!.reason)));
    await t.runtime.lanes.run('data', fixture('echo'), null); // a warm thread, so the call starts well before the timeout
    const err = await rejection(t.runtime.lanes.run('data', fixture('ai'), { mode: 'chat-hang' }, { timeoutMs: 1_000 }));
    expect(err.code).toBe('TL_ERR_LANE_TIMEOUT');
    await vi.waitFor(() => expect(ai.calls[0]?.signal?.aborted).toBe(true));
  });

  it('a thread gets a clear error when the runtime has no AI client', async () => {
    (t.runtime as unknown as { ai?: AiClient }).ai = undefined;
    const out = await t.runtime.lanes.run<any>('data', fixture('ai'), { mode: 'chat-error' });
    expect(out.caught.code).toBe('TL_ERR_RUNTIME_STATE');
    const sync = await t.runtime.lanes.run<any>('data', fixture('ai'), { mode: 'sync-error' });
    expect(sync.caught.code).toBe('TL_ERR_RUNTIME_STATE');
  });
});

describe('ctx.ai on the loop', () => {
  it('is runtime.ai with the task signal, and has no generateSync', async () => {
    const out = await t.runtime.lanes.run('ai', async (_: null, ctx: WorkContext) => {
      const r = await ctx.ai.chat({ model: 'fast', messages: [{ role: 'user', content: 'loop' }] });
      return { content: r.completion.choices[0]!.message.content, sync: typeof ctx.ai.generateSync, signal: ai.calls[0]!.signal === ctx.signal };
    }, null);
    expect(out).toEqual({ content: 'echo: loop', sync: 'undefined', signal: true });
  });
});
