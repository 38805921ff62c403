/**
 * The native Anthropic adapter through the gateway, against the mock in Anthropic's wire format:
 * what it sends (x-api-key, anthropic-version, system, max_tokens, blocks, images, forced tool for
 * json_schema), what it reads (text, tool_use, thinking, usage with cache counts), the native
 * pass-through of /v1/messages (cache_control and thinking kept both ways), and each failure
 * scenario: 429 cools by retry-after and anthropic-ratelimit-*, 529 is a server fault (retried,
 * then failed over), a cut stream is continued from a prefill, a stall ends in-band.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { rateLimitResetMs } from '../../../src/ai/providers/anthropic/parse-error.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';
import { aiConfig, collect } from '../fixtures.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

async function start(models: Record<string, unknown>, ai: Record<string, unknown> = {}) {
  mock = await startMockProvider({ retryAfterSeconds: 1 });
  const config = aiConfig(mock.url, { models: models as never, ai });
  config.providers = {
    ...config.providers,
    claude: {
      type: 'anthropic',
      baseURL: mock.url,
      apiKeys: ['sk-ant-000000001', 'sk-ant-000000002'],
      prefill: true,
      headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' },
    },
  } as never;
  t = await testServer(config);
  return new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}

const PNG = 'data:image/png;base64,iVBORw0KGgo=';

describe('anthropic adapter', () => {
  it('sends the Messages API shape and reads the answer, whole and streamed', async () => {
    const client = await start({ c: [{ provider: 'claude', model: 'claude-mock' }] });
    const r = await client.chat.completions.create({
      model: 'c',
      messages: [
        { role: 'system', content: 'be brief' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?' },
            { type: 'image_url', image_url: { url: PNG } },
            { type: 'image_url', image_url: { url: 'https://example.invalid/cat.jpg' } },
          ],
        },
      ],
      temperature: 0.2,
      stop: ['###'],
    });
    expect(r.choices[0]!.message.content).toBe('echo: what is this?');
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(r.usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
    const sent = mock.calls[0]!;
    expect(sent.path).toBe('/v1/messages');
    expect(sent.key).toBe('sk-ant-000000001');
    expect(sent.body).toEqual({
      model: 'claude-mock',
      max_tokens: 4096,
      stream: false,
      system: 'be brief',
      temperature: 0.2,
      stop_sequences: ['###'],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.invalid/cat.jpg' } },
          ],
        },
      ],
    });
    const res = await mock.waitForCall(() => true);
    expect(res).toBeTruthy();
    const streamed = await collect(
      await client.chat.completions.create({
        model: 'c',
        messages: [{ role: 'user', content: 'stream this one' }],
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    expect(streamed.text).toBe('echo: stream this one');
    expect(streamed.finish).toBe('stop');
    expect((streamed.chunks.at(-1) as { usage?: { completion_tokens: number } }).usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('tool calls both ways, thinking as reasoning_content, cache token counts in usage', async () => {
    const client = await start({ c: [{ provider: 'claude', model: 'claude-mock' }] });
    mock.respond({
      status: 200,
      body: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-mock',
        stop_reason: 'tool_use',
        stop_sequence: null,
        content: [
          { type: 'thinking', thinking: 'The user wants weather.', signature: 'sig' },
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
        ],
        usage: { input_tokens: 10, cache_read_input_tokens: 90, cache_creation_input_tokens: 0, output_tokens: 5 },
      },
    });
    const r = await client.chat.completions.create({
      model: 'c',
      tools: [
        { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
      ],
      tool_choice: 'required',
      messages: [
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'toolu_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_0', content: '20 C' },
        { role: 'user', content: 'and Paris?' },
      ],
    });
    const msg = r.choices[0]!.message as (typeof r.choices)[0]['message'] & { reasoning_content?: string };
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    expect(msg.content).toBe('Checking.');
    expect(msg.tool_calls).toEqual([{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
    expect(msg.reasoning_content).toBe('The user wants weather.');
    expect(r.usage).toMatchObject({ prompt_tokens: 100, completion_tokens: 5 });
    const body = mock.calls[0]!.body;
    expect(body.tools).toEqual([{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }]);
    expect(body.tool_choice).toEqual({ type: 'any' });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'weather?' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_0', name: 'get_weather', input: { city: 'Rome' } }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_0', content: '20 C' },
          { type: 'text', text: 'and Paris?' },
        ],
      },
    ]);
  });

  it('/v1/messages to an Anthropic target passes the caller body natively and hands the blocks back as sent', async () => {
    await start({ c: [{ provider: 'claude', model: 'claude-mock' }] });
    const blocks = [
      { type: 'thinking', thinking: 'hmm', signature: 'sig-1' },
      { type: 'text', text: 'Hi.' },
    ];
    mock.respond({
      status: 200,
      body: {
        id: 'msg_9',
        type: 'message',
        role: 'assistant',
        model: 'claude-mock',
        content: blocks,
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 3, output_tokens: 2, cache_creation_input_tokens: 1200 },
      },
    });
    const sdk = new Anthropic({ baseURL: t!.url, apiKey: 'unused', maxRetries: 0 });
    const system = [{ type: 'text' as const, text: 'long shared preamble', cache_control: { type: 'ephemeral' as const } }];
    const msg = await sdk.messages.create({
      model: 'c',
      max_tokens: 2000,
      system,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(msg.content).toEqual(blocks);
    expect(msg.usage).toMatchObject({ input_tokens: 3, output_tokens: 2, cache_creation_input_tokens: 1200 });
    const sent = mock.calls[0]!.body;
    expect(sent).toEqual({
      model: 'claude-mock',
      max_tokens: 2000,
      system,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [{ role: 'user', content: 'hi' }],
      stream: false,
    });
  });

  it('response_format json_schema becomes a forced tool whose input is the answer', async () => {
    const client = await start({ c: [{ provider: 'claude', model: 'claude-mock' }] });
    mock.respond({
      status: 200,
      body: {
        id: 'msg_2',
        type: 'message',
        role: 'assistant',
        model: 'claude-mock',
        content: [{ type: 'tool_use', id: 't', name: 'place', input: { city: 'Paris' } }],
        stop_reason: 'tool_use',
        usage: { input_tokens: 1, output_tokens: 1 },
      },
    });
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const r = await client.chat.completions.create({
      model: 'c',
      messages: [{ role: 'user', content: 'where?' }],
      response_format: { type: 'json_schema', json_schema: { name: 'place', schema, strict: true } },
    });
    expect(JSON.parse(r.choices[0]!.message.content!)).toEqual({ city: 'Paris' });
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(mock.calls[0]!.body).toMatchObject({
      tools: [{ name: 'place', input_schema: schema }],
      tool_choice: { type: 'tool', name: 'place' },
    });
  });

  it('reads the exhausted anthropic-ratelimit-*-reset as a wait', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(
      rateLimitResetMs(
        {
          'anthropic-ratelimit-requests-remaining': '0',
          'anthropic-ratelimit-requests-reset': '2026-01-01T00:00:20Z',
          'anthropic-ratelimit-tokens-remaining': '500',
          'anthropic-ratelimit-tokens-reset': '2026-01-01T00:01:00Z',
        },
        now,
      ),
    ).toBe(20_000);
    expect(
      rateLimitResetMs({ 'anthropic-ratelimit-tokens-remaining': '10', 'anthropic-ratelimit-tokens-reset': '2026-01-01T00:01:00Z' }, now),
    ).toBeUndefined();
  });

  it('429 cools the key and the next key serves; 529 is retried then failed over; errors read from its body', async () => {
    const client = await start({
      c: [{ provider: 'claude', model: 'claude-mock' }],
      over: [
        { provider: 'claude', model: 'claude-mock@503-always' },
        { provider: 'b', model: 'gpt-mock' },
      ],
      long: [{ provider: 'claude', model: 'claude-mock@context-length' }],
      silent: [
        { provider: 'claude', model: 'claude-mock@hang' },
        { provider: 'b', model: 'gpt-mock' },
      ],
    });
    mock.faultForKey('sk-ant-000000001', '429');
    const r = await client.chat.completions.create({ model: 'c', messages: [{ role: 'user', content: 'q' }] }).withResponse();
    expect(r.response.headers.get('x-tasklane-key-index')).toBe('1');
    const limited = mock.calls.find((c) => c.key === 'sk-ant-000000001')!;
    expect(limited).toBeTruthy();
    mock.faultForKey('sk-ant-000000001', undefined);
    const health = t!.runtime.ai.health();
    expect(JSON.stringify(health)).toContain('cool');

    const over = await client.chat.completions.create({ model: 'over', messages: [{ role: 'user', content: 'q' }] }).withResponse();
    expect(over.response.headers.get('x-tasklane-provider')).toBe('b');
    const overloaded = mock.calls.filter((c) => c.model === 'claude-mock@503-always');
    expect(overloaded.length).toBeGreaterThanOrEqual(2);

    const long = await client.chat.completions.create({ model: 'long', messages: [{ role: 'user', content: 'q' }] }).catch((e) => e);
    expect(long.status).toBe(400);
    expect(long.code).toBe('TL_ERR_AI_CONTEXT_LENGTH');
    // A silent upstream trips the first-byte deadline and the next target serves.
    const silent = await client.chat.completions
      .create({ model: 'silent', messages: [{ role: 'user', content: 'q' }], stream: true })
      .withResponse();
    expect(silent.response.headers.get('x-tasklane-provider')).toBe('b');
    for await (const _ of silent.data) void _;
  });

  it('a cut stream is continued from a prefill on an Anthropic target; a stall ends with the in-band error', async () => {
    const client = await start({
      cont: {
        targets: [
          { provider: 'claude', model: 'claude-mock@cut' },
          { provider: 'claude', model: 'claude-mock' },
        ],
        continuation: true,
      },
      stall: [{ provider: 'claude', model: 'claude-mock@stall' }],
    });
    const question = 'tell me something long enough to be cut';
    const cont = await collect(
      await client.chat.completions.create({ model: 'cont', messages: [{ role: 'user', content: question }], stream: true }),
    );
    expect(cont.error).toBeUndefined();
    expect(cont.text).toBe(`echo: ${question}`);
    const second = mock.calls.find((c) => c.model === 'claude-mock')!;
    expect(second.body.messages.at(-1).role).toBe('assistant');
    const stalled = await collect(
      await client.chat.completions.create({ model: 'stall', messages: [{ role: 'user', content: question }], stream: true }),
    );
    expect(stalled.text.length).toBeGreaterThan(0);
    expect(stalled.finish).toBeNull();
    expect(stalled.error).toBeDefined();
  });
});

describe('the Anthropic mock and /v1/messages over the Anthropic adapter', () => {
  it('the official SDK reads the mock directly, whole and streamed (the mock speaks the real wire format)', async () => {
    mock = await startMockProvider();
    const sdk = new Anthropic({ baseURL: mock.url, apiKey: 'sk-ant-direct-0001', maxRetries: 0 });
    const msg = await sdk.messages.create({ model: 'claude-mock', max_tokens: 10, messages: [{ role: 'user', content: 'direct' }] });
    expect(msg.content).toEqual([{ type: 'text', text: 'echo: direct' }]);
    const final = await sdk.messages
      .stream({ model: 'claude-mock', max_tokens: 10, messages: [{ role: 'user', content: 'direct stream' }] })
      .finalMessage();
    expect(final.content[0]).toMatchObject({ type: 'text', text: 'echo: direct stream' });
    expect(final.stop_reason).toBe('end_turn');
    const limited = await sdk.messages
      .create({ model: 'claude-mock@429-always', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect(limited.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    const overloaded = await sdk.messages
      .create({ model: 'claude-mock@503-always', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(overloaded.status).toBe(529);
    expect(overloaded.error.error.type).toBe('overloaded_error');
  });

  it('streams /v1/messages from an Anthropic target; image blocks go up as image blocks', async () => {
    await start({ c: [{ provider: 'claude', model: 'claude-mock' }] });
    const sdk = new Anthropic({ baseURL: t!.url, apiKey: 'unused', maxRetries: 0 });
    const final = await sdk.messages
      .stream({
        model: 'c',
        max_tokens: 100,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'look at this' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            ],
          },
        ],
      })
      .finalMessage();
    expect(final.content[0]).toMatchObject({ type: 'text', text: 'echo: look at this' });
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    // Native: the caller's blocks as they were.
    expect(mock.calls[0]!.body.messages[0].content[1]).toEqual({
      type: 'image',
      source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' },
    });
    expect(mock.calls[0]!.body.stream).toBe(true);
  });
});

describe('anthropic adapter streams', () => {
  const ev = (event: string, data: Record<string, unknown>) => `event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`;
  const head = ev('message_start', {
    message: {
      id: 'msg_s',
      type: 'message',
      role: 'assistant',
      model: 'claude-mock',
      content: [],
      stop_reason: null,
      usage: { input_tokens: 12, output_tokens: 1 },
    },
  });

  it('tool_use blocks stream as OpenAI tool-call pieces; thinking is left out of the chat answer', async () => {
    const client = await start({ c: [{ provider: 'claude', model: 'claude-mock' }] });
    mock.respond({
      raw: [
        head,
        ev('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } }),
        ev('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'pondering' } }),
        ev('content_block_stop', { index: 0 }),
        ev('content_block_start', { index: 1, content_block: { type: 'text', text: '' } }),
        ev('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'On it.' } }),
        ev('content_block_stop', { index: 1 }),
        ev('content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_s', name: 'get_weather', input: {} } }),
        ev('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '{"city":' } }),
        ev('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: ' "Oslo"}' } }),
        ev('content_block_stop', { index: 2 }),
        ev('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 30 } }),
        ev('message_stop', {}),
      ],
    });
    const stream = await client.chat.completions.create({
      model: 'c',
      messages: [{ role: 'user', content: 'weather?' }],
      stream: true,
      stream_options: { include_usage: true },
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
    });
    let text = '';
    let finish: string | null = null;
    const call = { id: '', name: '', args: '' };
    let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
    for await (const c of stream) {
      if (c.usage) usage = c.usage;
      const ch = c.choices[0];
      if (!ch) continue;
      text += ch.delta.content ?? '';
      for (const tc of ch.delta.tool_calls ?? []) {
        call.id ||= tc.id ?? '';
        call.name += tc.function?.name ?? '';
        call.args += tc.function?.arguments ?? '';
      }
      finish = ch.finish_reason ?? finish;
    }
    expect(text).toBe('On it.');
    expect(call).toEqual({ id: 'toolu_s', name: 'get_weather', args: '{"city": "Oslo"}' });
    expect(finish).toBe('tool_calls');
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 30 });
  });

  it('a forced json tool streams its input as the text; an error event breaks the stream', async () => {
    const client = await start({ c: [{ provider: 'claude', model: 'claude-mock' }] });
    mock.respond([
      {
        raw: [
          head,
          ev('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'toolu_j', name: 'place', input: {} } }),
          ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{"city"' } }),
          ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: ': "Paris"}' } }),
          ev('content_block_stop', { index: 0 }),
          ev('message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } }),
          ev('message_stop', {}),
        ],
      },
      {
        raw: [
          head,
          ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
          ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Par' } }),
          ev('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
        ],
      },
    ]);
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const s = await collect(
      await client.chat.completions.create({
        model: 'c',
        messages: [{ role: 'user', content: 'where?' }],
        stream: true,
        response_format: { type: 'json_schema', json_schema: { name: 'place', schema, strict: true } },
      }),
    );
    expect(s.error).toBeUndefined();
    expect(JSON.parse(s.text)).toEqual({ city: 'Paris' });
    expect(s.finish).toBe('stop');
    const broken = await collect(
      await client.chat.completions.create({ model: 'c', messages: [{ role: 'user', content: 'again' }], stream: true }),
    );
    expect(broken.text).toBe('Par');
    expect(broken.finish).toBeNull();
    expect((broken.error as { code?: string }).code).toBe('TL_ERR_AI_STREAM_BROKEN');
    expect(broken.error!.message).toContain('overloaded_error');
  });
});
