import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LanguageModel, StreamPart } from '../../../src/ai/provider.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { call, collect, eventually, fastTimeouts, makeModel, rejection, sleep } from './helpers.js';

/**
 * The openai-compatible adapter against the fault-injecting mock over real loopback HTTP: every
 * fault becomes the right ProviderError kind in bounded time, a stream never ends as a truncated
 * success, aborts reach the upstream socket, and close() leaves no connection open.
 */
let mock: MockProvider;
let model: LanguageModel;

beforeEach(async () => {
  mock = await startMockProvider();
  model = makeModel('openai-compatible', `${mock.url}/v1`);
});

afterEach(async () => {
  await model?.close();
  await mock?.close();
});

const kinds = (parts: StreamPart[]) => parts.map((p) => p.type);

describe('answers', () => {
  it('doGenerate returns the completion with usage, sending the request as is', async () => {
    const { completion } = await model.doGenerate(
      call('gpt-mock', { request: { model: 'gpt-mock', messages: [{ role: 'user', content: 'hi you' }], temperature: 0.2, seed: 7 } }),
    );
    expect(completion.choices[0]!.message.content).toBe('echo: hi you');
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.usage).toEqual({ prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
    expect(mock.calls[0]).toMatchObject({ path: '/v1/chat/completions', key: 'test-key-000001', model: 'gpt-mock' });
    expect(mock.calls[0]!.body).toMatchObject({ temperature: 0.2, seed: 7, stream: false });
  });

  it('doStream yields start, the text in pieces, and finish with usage (include_usage asked)', async () => {
    const r = await collect(await model.doStream(call('gpt-mock')));
    expect(r.text).toBe('echo: hello there world');
    expect(r.parts[0]).toMatchObject({ type: 'start', model: 'gpt-mock' });
    expect(r.parts.filter((p) => p.type === 'text-delta').length).toBeGreaterThan(2);
    expect(r.last).toEqual({ type: 'finish', finishReason: 'stop', usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } });
    expect(mock.calls[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('prefill: sent as the trailing assistant message, only the continuation comes back', async () => {
    const r = await collect(await model.doStream(call('gpt-mock', { prefill: 'echo: hello th' })));
    expect(r.text).toBe('ere world');
    expect(mock.calls[0]!.body.messages.at(-1)).toEqual({ role: 'assistant', content: 'echo: hello th' });
    const { completion } = await model.doGenerate(call('gpt-mock', { prefill: 'echo: hel' }));
    expect(completion.choices[0]!.message.content).toBe('lo there world');
    expect(model.supportsPrefill).toBe(true);
  });

  it('lists models', async () => {
    expect(await model.doListModels({ apiKey: 'test-key-000001', signal: new AbortController().signal, timeouts: fastTimeouts })).toEqual([
      'gpt-mock',
      'llama3.2:latest',
    ]);
  });

  it('reuses keep-alive connections across calls, streams included', async () => {
    for (let i = 0; i < 4; i++) await model.doGenerate(call('gpt-mock'));
    for (let i = 0; i < 4; i++) await collect(await model.doStream(call('gpt-mock')));
    expect(mock.calls).toHaveLength(8);
    // undici frees a connection a tick after the body ends, so a call made at once may open a second.
    expect(mock.totalConnections).toBeLessThanOrEqual(2);
  });

  it('a slow consumer is not an idle upstream', async () => {
    // The upstream sends a chunk every 250 ms, well inside a 1 s idle clock even on a loaded machine,
    // and stays open past that clock; the consumer holds the first part for 2.5 s meanwhile. An idle
    // clock that ran on the consumer's reads instead of the upstream's chunks would trip. totalMs is
    // not under test here.
    const slow = await startMockProvider({ chunkDelayMs: 250 });
    const slowModel = makeModel('openai-compatible', `${slow.url}/v1`);
    try {
      const stream = await slowModel.doStream(call('gpt-mock', { timeouts: { ...fastTimeouts, idleChunkMs: 1_000, totalMs: 30_000 } }));
      const parts: StreamPart[] = [];
      for await (const p of stream) {
        parts.push(p);
        if (parts.length === 1) await sleep(2_500);
      }
      expect(parts.length).toBeGreaterThan(3);
      expect(parts.at(-1)?.type).toBe('finish');
    } finally {
      await slowModel.close();
      await slow.close();
    }
  });
});

describe('faults before the headers', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['429', { kind: 'rate_limit', status: 429, retryAfterMs: 2_000 }],
    ['429:5', { kind: 'rate_limit', status: 429, retryAfterMs: 5_000 }],
    ['429-ms', { kind: 'rate_limit', status: 429, retryAfterMs: 300 }],
    ['429-always', { kind: 'rate_limit', status: 429, retryAfterMs: 2_000 }],
    ['500-once', { kind: 'server', status: 500 }],
    ['503-always', { kind: 'server', status: 503 }],
    ['flap', { kind: 'server', status: 503 }],
    ['reset', { kind: 'connect' }],
    ['hang', { kind: 'timeout', phase: 'first_byte' }],
    ['slow-first', { kind: 'timeout', phase: 'first_byte' }],
    ['context-length', { kind: 'context_length', status: 400 }],
    ['content-filter', { kind: 'content_filter', status: 400 }],
    ['401', { kind: 'auth', status: 401 }],
  ];
  const codes: Record<string, string> = {
    rate_limit: 'TL_ERR_AI_RATE_LIMITED',
    server: 'TL_ERR_AI_PROVIDER',
    connect: 'TL_ERR_AI_PROVIDER',
    timeout: 'TL_ERR_AI_TIMEOUT',
    context_length: 'TL_ERR_AI_CONTEXT_LENGTH',
    content_filter: 'TL_ERR_AI_CONTENT_FILTER',
    auth: 'TL_ERR_AI_AUTH',
  };
  for (const [fault, details] of cases) {
    for (const mode of ['generate', 'stream'] as const) {
      it(`${fault} (${mode}) → ${String(details.kind)}`, async () => {
        const started = Date.now();
        const o = call(`gpt-mock@${fault}`);
        const err = await rejection(mode === 'generate' ? model.doGenerate(o) : model.doStream(o));
        expect(err.name).toBe('ProviderError');
        expect(err.details).toMatchObject({ provider: 'up', model: `gpt-mock@${fault}`, keyIndex: 0, ...details });
        expect(err.code).toBe(codes[String(details.kind)]);
        expect(err.retryable).toBe(!['context_length', 'content_filter'].includes(String(details.kind)));
        expect(err.message).not.toContain('test-key-000001');
        expect(Date.now() - started).toBeLessThan(3_000);
        if (fault === 'hang' || fault === 'slow-first') await mock.waitForAbort(mock.calls[0]!);
      });
    }
  }

  it('once-faults answer on the next call; flap alternates', async () => {
    await rejection(model.doGenerate(call('gpt-mock@500-once')));
    expect((await model.doGenerate(call('gpt-mock@500-once'))).completion.choices[0]!.message.content).toBe('echo: hello there world');
    await rejection(model.doGenerate(call('gpt-mock@429')));
    await model.doGenerate(call('gpt-mock@429'));
    await rejection(model.doGenerate(call('gpt-mock@flap')));
    await model.doGenerate(call('gpt-mock@flap'));
    await rejection(model.doGenerate(call('gpt-mock@flap')));
  });

  it('a refused connection is a connect error', async () => {
    const gone = makeModel('openai-compatible', `${mock.url}/v1`);
    const port = new URL(mock.url).port;
    await mock.close();
    try {
      const err = await rejection(gone.doGenerate(call('gpt-mock')));
      expect(err.details).toMatchObject({ kind: 'connect' });
      expect(err.message).toContain('ECONNREFUSED');
      expect(err.message).toContain(`provider "up"`);
      expect(port).not.toBe('');
    } finally {
      await gone.close();
    }
  });

  it('a bad key (badKeys) is auth; the error never holds the key', async () => {
    mock.badKeys.add('test-key-000001');
    const err = await rejection(model.doGenerate(call('gpt-mock')));
    expect(err.details).toMatchObject({ kind: 'auth', status: 401 });
    expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain('test-key');
  });

  it('prefill-reject: 400 with a prefill, an answer without', async () => {
    const err = await rejection(model.doStream(call('gpt-mock@prefill-reject', { prefill: 'echo: he' })));
    expect(err.details).toMatchObject({ kind: 'bad_request', status: 400 });
    expect(err.retryable).toBe(false);
    expect((await model.doGenerate(call('gpt-mock@prefill-reject'))).completion.choices[0]!.message.content).toBe(
      'echo: hello there world',
    );
  });

  it('faults chosen by header and per key', async () => {
    mock.faultForKey('test-key-000001', '503-always');
    expect((await rejection(model.doGenerate(call('gpt-mock')))).details).toMatchObject({ kind: 'server' });
    mock.faultForKey('test-key-000001', undefined);
    await model.doGenerate(call('gpt-mock'));
    expect(mock.callsByKey('test-key-000001')).toHaveLength(2);
  });

  it('totalMs bounds a call that trickles', async () => {
    const err = await rejection(
      model.doGenerate(call('gpt-mock@hang', { timeouts: { ...fastTimeouts, firstByteMs: 5_000, totalMs: 300 } })),
    );
    expect(err.details).toMatchObject({ kind: 'timeout', phase: 'total' });
  });
});

describe('streams that break: an error part, never a truncated success', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['cut', { kind: 'stream_broken' }],
    ['cut-clean', { kind: 'stream_broken' }],
    ['stall', { kind: 'timeout', phase: 'idle' }],
  ];
  for (const [fault, details] of cases) {
    it(`${fault} → ${String(details.kind)}`, async () => {
      const started = Date.now();
      const r = await collect(await model.doStream(call(`gpt-mock@${fault}`)));
      expect(kinds(r.parts)).not.toContain('finish');
      expect(r.parts.filter((p) => p.type === 'error')).toHaveLength(1);
      expect(r.last?.type).toBe('error');
      const err = (r.last as { error: { details: Record<string, unknown>; retryable: boolean; code: string } }).error;
      expect(err.details).toMatchObject({ provider: 'up', keyIndex: 0, ...details });
      expect(err.retryable).toBe(true);
      expect(err.code).toMatch(/^TL_ERR_AI_(STREAM_BROKEN|TIMEOUT)$/);
      expect(r.text.length).toBeGreaterThan(0);
      expect('echo: hello there world'.startsWith(r.text)).toBe(true);
      expect(r.text).not.toBe('echo: hello there world');
      expect(Date.now() - started).toBeLessThan(3_000);
      if (fault === 'stall') await mock.waitForAbort(mock.calls[0]!);
    });
  }

  it('a malformed event is reported as a malformed part and skipped; the rest of the answer follows', async () => {
    const r = await collect(await model.doStream(call('gpt-mock@malformed:2')));
    expect(r.parts.filter((p) => p.type === 'malformed')).toHaveLength(2);
    expect(r.text).toBe('echo: hello there world');
    expect(r.last).toMatchObject({ type: 'finish', finishReason: 'stop' });
  });

  it('no-done: finish_reason then close without [DONE] is a whole answer', async () => {
    const r = await collect(await model.doStream(call('gpt-mock@no-done')));
    expect(r.text).toBe('echo: hello there world');
    expect(r.last).toMatchObject({ type: 'finish', finishReason: 'stop', usage: { total_tokens: 7 } });
  });

  it('finish_reason then silence: a whole answer once the idle clock runs out, upstream dropped', async () => {
    const r = await collect(await model.doStream(call('gpt-mock@finish-stall')));
    expect(r.text).toBe('echo: hello there world');
    expect(r.last).toMatchObject({ type: 'finish', finishReason: 'stop', usage: { total_tokens: 7 } });
    expect(r.ms).toBeLessThan(2_000);
    await mock.waitForAbort(mock.calls[0]!);
  });

  it('finish_reason then close, no usage, no [DONE]: a whole answer', async () => {
    mock.respond({ raw: ['data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"all"},"finish_reason":"stop"}]}\n\n'] });
    const r = await collect(await model.doStream(call('gpt-mock')));
    expect(r.text).toBe('all');
    expect(r.last).toMatchObject({ type: 'finish', finishReason: 'stop' });
  });

  it('content_filter as a finish reason is passed on, not an error', async () => {
    const r = await collect(await model.doStream(call('gpt-mock@content-filter-finish')));
    expect(r.last).toMatchObject({ type: 'finish', finishReason: 'content_filter' });
    expect(r.text.length).toBeLessThan('echo: hello there world'.length);
  });

  it('slow-body: headers at once, then no first byte → timeout(first_byte) in the stream', async () => {
    const r = await collect(await model.doStream(call('gpt-mock@slow-body')));
    expect(r.parts).toHaveLength(1);
    expect((r.last as { error: { details: unknown } }).error.details).toMatchObject({ kind: 'timeout', phase: 'first_byte' });
  });

  it('an error reported inside the stream ends it with stream_broken', async () => {
    mock.respond({
      raw:
        'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"par"},"finish_reason":null}]}\n\n' +
        'data: {"id":"c1","model":"m","error":{"code":502,"message":"Provider disconnected"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}\n\n' +
        'data: [DONE]\n\n',
    });
    const r = await collect(await model.doStream(call('gpt-mock')));
    expect(kinds(r.parts)).toEqual(['start', 'text-delta', 'error']);
    expect((r.last as { error: { details: unknown; message: string } }).error.details).toMatchObject({ kind: 'stream_broken' });
  });
});

describe('abort and close', () => {
  it('abort before the headers rejects with aborted and closes the upstream socket', async () => {
    const ac = new AbortController();
    const pending = model.doGenerate(call('gpt-mock@hang', { signal: ac.signal, timeouts: { ...fastTimeouts, firstByteMs: 10_000 } }));
    const seen = await mock.waitForCall(() => true);
    const started = Date.now();
    ac.abort();
    const err = await rejection(pending);
    expect(err.details).toMatchObject({ kind: 'aborted' });
    expect(err.code).toBe('TL_ERR_ABORTED');
    expect(err.retryable).toBe(false);
    await mock.waitForAbort(seen);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('abort mid-stream ends with an aborted error part and closes the upstream socket', async () => {
    const ac = new AbortController();
    const stream = await model.doStream(call('gpt-mock@stall', { signal: ac.signal, timeouts: { ...fastTimeouts, idleChunkMs: 10_000 } }));
    const parts: StreamPart[] = [];
    for await (const p of stream) {
      parts.push(p);
      if (p.type === 'text-delta') ac.abort();
    }
    expect(parts.at(-1)).toMatchObject({ type: 'error', error: { details: { kind: 'aborted' } } });
    await mock.waitForAbort(mock.calls[0]!);
  });

  it('an already aborted signal never reaches the upstream', async () => {
    const err = await rejection(model.doGenerate(call('gpt-mock', { signal: AbortSignal.abort() })));
    expect(err.details).toMatchObject({ kind: 'aborted' });
    expect(mock.calls).toHaveLength(0);
  });

  it('a consumer that stops reading aborts the upstream', async () => {
    const stream = await model.doStream(call('gpt-mock@stall', { timeouts: { ...fastTimeouts, idleChunkMs: 10_000 } }));
    for await (const p of stream) if (p.type === 'text-delta') break;
    await mock.waitForAbort(mock.calls[0]!);
  });

  it('close() aborts calls in flight, closes every socket, and later calls fail with Closed', async () => {
    await model.doGenerate(call('gpt-mock'));
    const pending = rejection(model.doGenerate(call('gpt-mock@hang', { timeouts: { ...fastTimeouts, firstByteMs: 10_000 } })));
    await mock.waitForCall((c) => c.fault === 'hang');
    expect(mock.openConnections).toBeGreaterThanOrEqual(1);
    await model.close();
    expect((await pending).details).toMatchObject({ kind: 'aborted' });
    await eventually(() => mock.openConnections === 0, 2_000, 'no open upstream connection');
    const after = await rejection(model.doGenerate(call('gpt-mock')));
    expect(after.code).toBe('TL_ERR_RUNTIME_CLOSED');
    await model.close();
  });

  it('no socket or timer of ours is left after close()', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    await collect(await model.doStream(call('gpt-mock')));
    await collect(await model.doStream(call('gpt-mock@stall')));
    await rejection(model.doGenerate(call('gpt-mock@503-always')));
    await model.close();
    await eventually(() => mock.openConnections === 0, 2_000, 'no open upstream connection');
    await eventually(
      () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length <= before,
      2_000,
      'no client socket',
    );
  });
});
