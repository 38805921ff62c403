import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LanguageModel } from '../../../src/ai/provider.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { call, collect, eventually, fastTimeouts, makeModel, rejection } from './helpers.js';

/** Hugging Face router / TGI: OpenAI chat under the base URL, TGI error bodies, loading waits. */
let mock: MockProvider;
let model: LanguageModel;
const hfModel = 'meta-llama/Llama-3.1-8B-Instruct';
beforeEach(async () => {
  mock = await startMockProvider();
  model = makeModel('huggingface', `${mock.url}/hf/v1`, { prefill: false });
});
afterEach(async () => {
  await model?.close();
  await mock?.close();
});

describe('huggingface', () => {
  it('generates and streams under its base URL, with the bearer token', async () => {
    expect(model.type).toBe('huggingface');
    expect(model.supportsPrefill).toBe(false);
    const { completion } = await model.doGenerate(call(hfModel));
    expect(completion.choices[0]!.message.content).toBe('echo: hello there world');
    const r = await collect(await model.doStream(call(hfModel)));
    expect(r.text).toBe('echo: hello there world');
    expect(r.last).toMatchObject({ type: 'finish', finishReason: 'stop', usage: { total_tokens: 7 } });
    expect(mock.calls.map((c) => [c.path, c.flavor, c.key, c.model])).toEqual([
      ['/hf/v1/chat/completions', 'hf', 'test-key-000001', hfModel],
      ['/hf/v1/chat/completions', 'hf', 'test-key-000001', hfModel],
    ]);
  });

  it("TGI's validation error for a prompt over the window is context_length", async () => {
    const err = await rejection(model.doGenerate(call(`${hfModel}@context-length`)));
    expect(err.details).toMatchObject({ kind: 'context_length', status: 422 });
    expect(err.code).toBe('TL_ERR_AI_CONTEXT_LENGTH');
    expect(err.retryable).toBe(false);
  });

  it('a loading model (503 + estimated_time) is a server error with a wait', async () => {
    const err = await rejection(model.doStream(call(`${hfModel}@503-always`)));
    expect(err.details).toMatchObject({ kind: 'server', status: 503, retryAfterMs: 2_500 });
    expect(err.message).toContain('currently loading');
  });

  it('other TGI validation errors are bad requests; the token never shows', async () => {
    mock.respond({
      status: 422,
      body: { error: 'Input validation error: `temperature` must be strictly positive', error_type: 'validation' },
    });
    const err = await rejection(model.doGenerate(call(hfModel)));
    expect(err.details).toMatchObject({ kind: 'bad_request', status: 422 });
    mock.respond(undefined);
    mock.badKeys.add('test-key-000001');
    const auth = await rejection(model.doGenerate(call(hfModel)));
    expect(auth.details).toMatchObject({ kind: 'auth' });
    expect(auth.message).not.toContain('test-key');
  });

  it('stream faults end with an error part; close frees the sockets', async () => {
    const r = await collect(await model.doStream(call(`${hfModel}@cut`)));
    expect(r.last).toMatchObject({ type: 'error', error: { details: { kind: 'stream_broken' } } });
    expect(await model.doListModels({ apiKey: 'test-key-000001', signal: new AbortController().signal, timeouts: fastTimeouts })).toContain(
      'gpt-mock',
    );
    await model.close();
    await eventually(() => mock.openConnections === 0, 2_000, 'no open upstream connection');
  });
});
