/**
 * A streamed /v1/messages to an Anthropic target goes back natively (issue 15): the upstream's
 * own events, thinking blocks and their signatures included, read by the official
 * @anthropic-ai/sdk; still no clean end on a cut stream, and no fail-over once bytes went out.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';
import { aiConfig } from '../fixtures.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

async function start(): Promise<Anthropic> {
  mock = await startMockProvider();
  const config = aiConfig(mock.url, {
    models: { c: [{ provider: 'claude', model: 'claude-mock' }] } as never,
    ai: { cache: { enabled: false } },
  });
  config.providers = {
    ...config.providers,
    claude: { type: 'anthropic', baseURL: mock.url, apiKeys: ['sk-ant-000000001'] },
  } as never;
  t = await testServer(config);
  return new Anthropic({ baseURL: t.url, apiKey: 'unused', maxRetries: 0 });
}

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
/** Anthropic's extended-thinking stream, as its API reference shows it. */
function thinkingStream({ end = true } = {}): string[] {
  const out = [
    sse('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_native_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-mock',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 12, cache_read_input_tokens: 900, output_tokens: 1 },
      },
    }),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }),
    sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Let me think' } }),
    sse('ping', { type: 'ping' }),
    sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: ' step by step.' } }),
    sse('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds' },
    }),
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }),
    sse('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'The answer' } }),
    sse('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: ' is 42.' } }),
  ];
  if (!end) return out;
  return [
    ...out,
    sse('content_block_stop', { type: 'content_block_stop', index: 1 }),
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 30 } }),
    sse('message_stop', { type: 'message_stop' }),
  ];
}

describe('streamed /v1/messages to an Anthropic target, natively', () => {
  it('hands back thinking blocks with their signatures, the upstream id and usage, read by the official SDK', async () => {
    const sdk = await start();
    mock.respond({ raw: thinkingStream() });
    const stream = sdk.messages.stream({
      model: 'c',
      max_tokens: 2000,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [{ role: 'user', content: 'what is the answer?' }],
    });
    const thinking: string[] = [];
    const signatures: string[] = [];
    stream.on('thinking', (delta) => thinking.push(delta));
    stream.on('signature', (sig) => signatures.push(sig));
    const msg = await stream.finalMessage();
    expect(msg.id).toBe('msg_native_1');
    expect(msg.content).toEqual([
      { type: 'thinking', thinking: 'Let me think step by step.', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds' },
      { type: 'text', text: 'The answer is 42.' },
    ]);
    expect(thinking.join('')).toBe('Let me think step by step.');
    expect(signatures).toEqual(['EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds']);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage).toMatchObject({ input_tokens: 12, cache_read_input_tokens: 900, output_tokens: 30 });
    // The caller's own body went up (thinking kept), streamed.
    expect(mock.calls[0]!.body).toMatchObject({ model: 'claude-mock', thinking: { type: 'enabled', budget_tokens: 1024 }, stream: true });
  });

  it('forwards the events byte for byte; a stream cut after the first text ends with event: error and no message_stop', async () => {
    await start();
    mock.respond({ raw: thinkingStream() });
    const post = () =>
      fetch(`${t!.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'c', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      }).then((r) => r.text());
    expect(await post()).toBe(thinkingStream().join(''));

    mock.respond({ raw: thinkingStream({ end: false }) });
    const cut = await post();
    expect(cut.startsWith(thinkingStream({ end: false }).join(''))).toBe(true);
    expect(cut).not.toContain('message_stop');
    const tail = cut.slice(thinkingStream({ end: false }).join('').length);
    expect(tail).toMatch(/^event: error\ndata: /);
    expect(JSON.parse(tail.split('data: ')[1]!).error.code).toBe('TL_ERR_AI_STREAM_BROKEN');
  });
});
