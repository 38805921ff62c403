import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LanguageModel } from '../../../src/ai/provider.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { call, collect, eventually, fastTimeouts, makeModel, rejection } from './helpers.js';

/** Ollama's native API (/api/chat NDJSON, /api/tags) against the mock over loopback. */
let mock: MockProvider;
let model: LanguageModel;
beforeEach(async () => {
  mock = await startMockProvider();
  model = makeModel('ollama', mock.url, { apiKeys: [] });
});
afterEach(async () => {
  await model?.close();
  await mock?.close();
});

describe('ollama', () => {
  it('doGenerate: stream false, options mapped, usage from eval counts', async () => {
    const { completion } = await model.doGenerate(
      call('llama3.2', {
        request: { model: 'llama3.2', messages: [{ role: 'user', content: 'hi you' }], max_tokens: 20, temperature: 0.1, stop: 'x' },
      }),
    );
    expect(completion.choices[0]).toMatchObject({ message: { role: 'assistant', content: 'echo: hi you' }, finish_reason: 'stop' });
    expect(completion.usage).toEqual({ prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
    expect(mock.calls[0]).toMatchObject({ path: '/api/chat', flavor: 'ollama' });
    expect(mock.calls[0]!.body).toMatchObject({ stream: false, options: { num_predict: 20, temperature: 0.1, stop: ['x'] } });
  });

  it('doStream: NDJSON lines to parts, finish with usage at done:true', async () => {
    const r = await collect(await model.doStream(call('llama3.2')));
    expect(r.text).toBe('echo: hello there world');
    expect(r.parts[0]).toMatchObject({ type: 'start', model: 'llama3.2' });
    expect(r.last).toEqual({ type: 'finish', finishReason: 'stop', usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } });
    expect(mock.calls[0]!.body.stream).toBe(true);
  });

  it('prefill: trailing assistant message, continuation only', async () => {
    const r = await collect(await model.doStream(call('llama3.2', { prefill: 'echo: hello ' })));
    expect(r.text).toBe('there world');
    expect(mock.calls[0]!.body.messages.at(-1)).toEqual({ role: 'assistant', content: 'echo: hello ' });
  });

  it('lists models from /api/tags', async () => {
    expect(await model.doListModels({ signal: new AbortController().signal, timeouts: fastTimeouts })).toEqual([
      'gpt-mock',
      'llama3.2:latest',
    ]);
  });

  for (const [fault, details] of [
    ['cut', { kind: 'stream_broken' }],
    ['cut-clean', { kind: 'stream_broken' }],
    ['stall', { kind: 'timeout', phase: 'idle' }],
  ] as const) {
    it(`${fault}: an error part after some text, no finish`, async () => {
      const r = await collect(await model.doStream(call(`llama3.2@${fault}`)));
      expect(r.text.length).toBeGreaterThan(0);
      expect(r.parts.map((p) => p.type)).not.toContain('finish');
      expect(r.last).toMatchObject({ type: 'error', error: { details } });
      expect(r.ms).toBeLessThan(3_000);
    });
  }

  it('malformed: the bad line is a malformed part, skipped; the whole answer follows', async () => {
    const r = await collect(await model.doStream(call('llama3.2@malformed')));
    expect(r.parts.filter((p) => p.type === 'malformed')).toHaveLength(1);
    expect(r.last).toMatchObject({ type: 'finish' });
  });

  it('errors before headers: 429 with Retry-After, 503, hang, reset', async () => {
    expect((await rejection(model.doStream(call('llama3.2@429-always')))).details).toMatchObject({
      kind: 'rate_limit',
      retryAfterMs: 2_000,
    });
    const e503 = await rejection(model.doGenerate(call('llama3.2@503-always')));
    expect(e503.details).toMatchObject({ kind: 'server', status: 503 });
    expect(e503.message).toContain('overloaded');
    expect((await rejection(model.doGenerate(call('llama3.2@hang')))).details).toMatchObject({ kind: 'timeout', phase: 'first_byte' });
    expect((await rejection(model.doGenerate(call('llama3.2@reset')))).details).toMatchObject({ kind: 'connect' });
  });

  it('a model Ollama does not have is a bad request', async () => {
    mock.respond({ status: 404, body: { error: 'model "nope" not found, try pulling it first' } });
    const err = await rejection(model.doGenerate(call('nope')));
    expect(err.details).toMatchObject({ kind: 'bad_request', status: 404 });
    expect(err.message).toContain('try pulling it first');
  });

  it('an error line inside the stream is stream_broken', async () => {
    mock.respond({
      raw: '{"model":"m","created_at":"2024-10-27T10:00:00Z","message":{"role":"assistant","content":"so"},"done":false}\n{"error":"an error was encountered while running the model: unexpected EOF"}\n',
      contentType: 'application/x-ndjson',
    });
    const r = await collect(await model.doStream(call('m')));
    expect(r.text).toBe('so');
    expect(r.last).toMatchObject({ type: 'error', error: { details: { kind: 'stream_broken' } } });
  });

  it('abort mid-stream reaches the upstream socket; close leaves no connection', async () => {
    const ac = new AbortController();
    const stream = await model.doStream(call('llama3.2@stall', { signal: ac.signal, timeouts: { ...fastTimeouts, idleChunkMs: 10_000 } }));
    const types: string[] = [];
    for await (const p of stream) {
      types.push(p.type);
      if (p.type === 'text-delta') ac.abort();
    }
    expect(types.at(-1)).toBe('error');
    await mock.waitForAbort(mock.calls[0]!);
    await model.close();
    await eventually(() => mock.openConnections === 0, 2_000, 'no open upstream connection');
  });
});
