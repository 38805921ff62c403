import type { ConfigInput } from '../../src/index.js';

/**
 * A config with two providers on one mock upstream (told apart by their keys) and routes for the
 * scenarios. Timeouts and backoff are short so every fault settles in well under a second or two.
 */
export function aiConfig(
  mockUrl: string,
  over: { models?: ConfigInput['models']; ai?: Record<string, unknown>; providers?: Record<string, Record<string, unknown>> } = {},
): ConfigInput {
  return {
    providers: {
      a: {
        type: 'openai-compatible',
        baseURL: `${mockUrl}/v1`,
        apiKeys: ['key-a0', 'key-a1'],
        prefill: true,
        ...(over.providers?.a ?? {}),
      },
      b: { type: 'openai-compatible', baseURL: `${mockUrl}/v1`, apiKeys: ['key-b0'], prefill: true, ...(over.providers?.b ?? {}) },
    } as ConfigInput['providers'],
    models: {
      chat: [
        { provider: 'a', model: 'gpt-mock' },
        { provider: 'b', model: 'gpt-mock' },
      ],
      ...(over.models ?? {}),
    },
    ai: {
      maxAttempts: 4,
      backoff: { baseMs: 5, maxMs: 20 },
      timeouts: { connectMs: 1_000, firstByteMs: 1_000, idleChunkMs: 600, totalMs: 5_000 },
      breaker: { failures: 3, resetMs: 400 },
      defaultCooldownMs: 1_500,
      // These scenarios were written when the cache was on for every request; they keep it so.
      cache: { enabled: true, mode: 'all' },
      ...(over.ai ?? {}),
    } as ConfigInput['ai'],
  };
}

export const ask = (text: string, model = 'chat') => ({ model, messages: [{ role: 'user' as const, content: text }] });

/** Collects a stream; returns the text, the chunks and the in-band error if the stream broke. */
export async function collect(
  stream: AsyncIterable<{ choices: Array<{ delta: { content?: string | null }; finish_reason: string | null }>; usage?: unknown }>,
) {
  let text = '';
  const chunks: unknown[] = [];
  let finish: string | null = null;
  let error: (Error & { code?: string; details?: Record<string, unknown> }) | undefined;
  try {
    for await (const c of stream) {
      chunks.push(c);
      for (const ch of c.choices) {
        text += ch.delta.content ?? '';
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
  } catch (err) {
    error = err as Error;
  }
  return { text, chunks, finish, error };
}
