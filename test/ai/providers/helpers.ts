import type { ResolvedProvider } from '../../../src/config/index.js';
import type { LanguageModel, PhaseTimeouts, ProviderCallOptions, StreamPart } from '../../../src/ai/provider.js';
import { createLanguageModel } from '../../../src/ai/providers/index.js';

/** Short deadlines so every fault settles well within a second or two. */
export const fastTimeouts: PhaseTimeouts = { connectMs: 1_000, firstByteMs: 800, idleChunkMs: 400, totalMs: 5_000 };

export function makeModel(type: ResolvedProvider['type'], baseURL: string, over: Partial<ResolvedProvider> = {}): LanguageModel {
  return createLanguageModel('up', { type, baseURL, apiKeys: ['test-key-000001'], prefill: true, connections: 4, headers: {}, ...over });
}

export function call(model: string, over: Partial<ProviderCallOptions> & { text?: string } = {}): ProviderCallOptions {
  const { text, ...rest } = over;
  return {
    request: { model, messages: [{ role: 'user', content: text ?? 'hello there world' }] },
    apiKey: 'test-key-000001',
    keyIndex: 0,
    signal: new AbortController().signal,
    timeouts: fastTimeouts,
    ...rest,
  };
}

export interface Collected {
  parts: StreamPart[];
  text: string;
  last: StreamPart | undefined;
  ms: number;
}

export async function collect(stream: AsyncIterable<StreamPart>, started = Date.now()): Promise<Collected> {
  const parts: StreamPart[] = [];
  for await (const p of stream) parts.push(p);
  const text = parts.map((p) => (p.type === 'text-delta' ? p.text : '')).join('');
  return { parts, text, last: parts.at(-1), ms: Date.now() - started };
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { code: string; details: Record<string, any>; retryable: boolean }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code: string; details: Record<string, any>; retryable: boolean };
  }
  throw new Error('expected a rejection, got a result');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` holds, polling; fails after `ms`. */
export async function eventually(check: () => boolean, ms = 3_000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`${what} did not hold within ${ms} ms`);
    await sleep(10);
  }
}
