import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LanguageModel } from '../../../src/ai/provider.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { call, collect, makeModel } from './helpers.js';

/**
 * Upstream streams in the shapes real providers send (test/fixtures/sse/), replayed by the mock
 * over loopback in 7-byte pieces so events, lines and UTF-8 characters arrive split.
 */
const fixture = (name: string) => readFileSync(new URL(`../../fixtures/sse/${name}`, import.meta.url), 'utf8');

let mock: MockProvider;
let model: LanguageModel;
beforeEach(async () => {
  mock = await startMockProvider({ chunkDelayMs: 1 });
});
afterEach(async () => {
  await model?.close();
  await mock?.close();
});

const cases = [
  {
    file: 'openai-gpt-4o-mini.chunks.txt',
    type: 'openai-compatible',
    path: '/v1',
    text: 'Bonjour à tous 👋',
    finish: 'stop',
    usage: { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 },
  },
  {
    file: 'groq-llama.chunks.txt',
    type: 'openai-compatible',
    path: '/v1',
    text: 'Fast answer.',
    finish: 'length',
    usage: { prompt_tokens: 40, completion_tokens: 2, total_tokens: 42 },
  },
  {
    file: 'openrouter-processing.chunks.txt',
    type: 'openai-compatible',
    path: '/v1',
    text: 'Routed reply',
    finish: 'stop',
    usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
  },
  {
    file: 'mistral-crlf.chunks.txt',
    type: 'openai-compatible',
    path: '/v1',
    text: 'Le vent se lève.',
    finish: 'stop',
    usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
  },
  {
    file: 'tgi-llama.chunks.txt',
    type: 'huggingface',
    path: '/hf/v1',
    text: 'Hugging face',
    finish: 'stop',
    usage: { prompt_tokens: 20, completion_tokens: 2, total_tokens: 22 },
  },
  {
    file: 'ollama-llama3.2.ndjson',
    type: 'ollama',
    path: '',
    text: 'Local llamas ü',
    finish: 'stop',
    usage: { prompt_tokens: 26, completion_tokens: 3, total_tokens: 29 },
  },
] as const;

describe('recorded upstream streams', () => {
  for (const c of cases) {
    it(`${c.file}: whole text, finish reason and usage`, async () => {
      model = makeModel(c.type, `${mock.url}${c.path}`);
      mock.respond({ raw: fixture(c.file), rawPieceBytes: 7 });
      const r = await collect(await model.doStream(call('m')));
      expect(r.text).toBe(c.text);
      expect(r.parts[0]?.type).toBe('start');
      expect(r.last).toEqual({ type: 'finish', finishReason: c.finish, usage: c.usage });
    });
  }

  it('openrouter-midstream-error: the in-band error ends the stream, no finish', async () => {
    model = makeModel('openai-compatible', `${mock.url}/v1`);
    mock.respond({ raw: fixture('openrouter-midstream-error.chunks.txt'), rawPieceBytes: 7 });
    const r = await collect(await model.doStream(call('m')));
    expect(r.text).toBe('Half an');
    expect(r.parts.map((p) => p.type)).toEqual(['start', 'text-delta', 'error']);
    const err = (r.last as { error: { details: unknown; message: string } }).error;
    expect(err.details).toMatchObject({ kind: 'stream_broken' });
    expect(err.message).toContain('Provider disconnected unexpectedly');
  });

  it('vllm-cut: a body that ends before any finish is stream_broken', async () => {
    model = makeModel('openai-compatible', `${mock.url}/v1`);
    mock.respond({ raw: fixture('vllm-cut.chunks.txt'), rawPieceBytes: 7 });
    const r = await collect(await model.doStream(call('m')));
    expect(r.text).toBe('This answer never ends');
    expect(r.last).toMatchObject({ type: 'error', error: { details: { kind: 'stream_broken' } } });
  });
});
