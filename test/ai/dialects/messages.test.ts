/**
 * POST /v1/messages, Anthropic's Messages API, as the official @anthropic-ai/sdk uses it, served
 * by an OpenAI-compatible upstream through the translation: plain and streamed answers, tools
 * both ways, errors in Anthropic's shape (auth by x-api-key too), and the failure scenarios
 * (429 and 5xx before the first byte fail over or retry; a cut or stalled stream ends with an
 * error event and no message_stop).
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

const CLIENT_KEY = 'tl-client-key-0123456789';

async function start(extraModels: Record<string, unknown> = {}, over: Parameters<typeof aiConfig>[1] = {}) {
  mock = await startMockProvider();
  const config = aiConfig(mock.url, { ...over, models: extraModels as never });
  config.server = { apiKeys: [CLIENT_KEY] };
  t = await testServer(config);
  return new Anthropic({ baseURL: t.url, apiKey: CLIENT_KEY, maxRetries: 0 });
}

const data = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const piece = (delta: Record<string, unknown>, finish: string | null = null) =>
  data({
    id: 'chatcmpl-t',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'gpt-mock',
    choices: [{ index: 0, delta, finish_reason: finish }],
  });

const WEATHER = {
  name: 'get_weather',
  description: 'Weather in a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] },
};

describe('POST /v1/messages (translated)', () => {
  it('answers a plain request: system, text blocks, stop_reason, usage, x-tasklane headers', async () => {
    const client = await start();
    const { data: msg, response } = await client.messages
      .create({
        model: 'chat',
        max_tokens: 64,
        system: 'be brief',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hello there' }] }],
        stop_sequences: ['###'],
      })
      .withResponse();
    expect(msg).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'chat',
      stop_reason: 'end_turn',
      content: [{ type: 'text', text: 'echo: hello there' }],
    });
    expect(msg.id).toMatch(/^msg_/);
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    expect(msg.usage.output_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-tasklane-provider')).toBe('a');
    const sent = mock.calls[0]!.body;
    expect(sent.messages).toEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'hello there' },
    ]);
    expect(sent).toMatchObject({ max_tokens: 64, stop: ['###'] });
  });

  it('streams the event sequence the SDK assembles, with usage at the end', async () => {
    const client = await start();
    const stream = client.messages.stream({ model: 'chat', max_tokens: 64, messages: [{ role: 'user', content: 'stream me please' }] });
    const types: string[] = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    const final = await stream.finalMessage();
    expect(final.content).toEqual(
      [{ type: 'text', text: 'echo: stream me please', citations: null }].map(({ citations: _c, ...b }) => expect.objectContaining(b)),
    );
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    expect(final.usage.input_tokens).toBeGreaterThan(0);
    expect(types[0]).toBe('message_start');
    expect(types[1]).toBe('content_block_start');
    expect(types.filter((x) => x === 'content_block_delta').length).toBeGreaterThanOrEqual(3);
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
  });

  it('tools: tool_use comes back (whole and streamed), tool_result goes up as a tool message', async () => {
    const client = await start();
    mock.respond([
      {
        status: 200,
        body: {
          id: 'chatcmpl-x',
          object: 'chat.completion',
          created: 1,
          model: 'gpt-mock',
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: 'Let me look.',
                tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
              },
              finish_reason: 'tool_calls',
            },
          ],
          usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
        },
      },
      {
        raw: [
          piece({ role: 'assistant', content: null }),
          piece({ tool_calls: [{ index: 0, id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
          piece({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
          piece({ tool_calls: [{ index: 0, function: { arguments: ' "Rome"}' } }] }),
          piece({}, 'tool_calls'),
          'data: [DONE]\n\n',
        ],
      },
    ]);
    const msg = await client.messages.create({
      model: 'chat',
      max_tokens: 64,
      tools: [WEATHER],
      tool_choice: { type: 'auto' },
      messages: [{ role: 'user', content: 'weather in Paris?' }],
    });
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.content).toEqual([
      expect.objectContaining({ type: 'text', text: 'Let me look.' }),
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    expect(mock.calls[0]!.body.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: WEATHER.input_schema } },
    ]);
    expect(mock.calls[0]!.body.tool_choice).toBe('auto');

    const streamed = await client.messages
      .stream({
        model: 'chat',
        max_tokens: 64,
        tools: [WEATHER],
        messages: [
          { role: 'user', content: 'weather in Paris?' },
          { role: 'assistant', content: msg.content },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'call_1', content: '21 C' },
              { type: 'text', text: 'and Rome?' },
            ],
          },
        ],
      })
      .finalMessage();
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.content).toEqual([{ type: 'tool_use', id: 'call_2', name: 'get_weather', input: { city: 'Rome' } }]);
    expect(mock.calls[1]!.body.messages.slice(1)).toEqual([
      {
        role: 'assistant',
        content: 'Let me look.',
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '21 C' },
      { role: 'user', content: 'and Rome?' },
    ]);
  });

  it('errors keep Anthropic shape with our code: bad key (x-api-key and Bearer), unknown model, bad field', async () => {
    const client = await start();
    const badKey = await new Anthropic({ baseURL: t!.url, apiKey: 'wrong', maxRetries: 0 }).messages
      .create({ model: 'chat', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(badKey).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(badKey.error).toMatchObject({ type: 'error', error: { type: 'authentication_error', code: 'TL_ERR_AUTH_INVALID' } });
    const bearer = await new Anthropic({ baseURL: t!.url, authToken: CLIENT_KEY, apiKey: null, maxRetries: 0 }).messages.create({
      model: 'chat',
      max_tokens: 8,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(bearer.content[0]).toMatchObject({ type: 'text', text: 'echo: x' });

    const unknown = await client.messages
      .create({ model: 'nope', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
    expect(unknown.error.error).toMatchObject({ type: 'not_found_error', code: 'TL_ERR_AI_UNKNOWN_MODEL' });

    const res = await fetch(`${t!.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: JSON.stringify({ model: 'chat', max_tokens: 8, messages: [{ role: 'user', content: 'x' }], frobnicate: 1 }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', code: 'TL_ERR_VALIDATION', message: expect.stringContaining('frobnicate') },
    });
    expect(mock.calls).toHaveLength(1);
  });

  it('429 fails over, a 5xx is retried, and a failure before any byte is an HTTP error', async () => {
    const client = await start(
      {
        limited: [
          { provider: 'a', model: 'gpt-mock@429-always' },
          { provider: 'b', model: 'gpt-mock' },
        ],
        flaky: [{ provider: 'b', model: 'gpt-mock@500-once' }],
        down: [{ provider: 'b', model: 'gpt-mock@503-always' }],
      },
      { ai: { maxAttempts: 3 } },
    );
    const limited = await client.messages
      .create({ model: 'limited', max_tokens: 8, messages: [{ role: 'user', content: 'q' }] })
      .withResponse();
    expect(limited.response.headers.get('x-tasklane-provider')).toBe('b');
    const flaky = await client.messages
      .create({ model: 'flaky', max_tokens: 8, messages: [{ role: 'user', content: 'q' }], stream: true })
      .withResponse();
    let text = '';
    for await (const e of flaky.data) if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
    expect(text).toBe('echo: q');
    expect(flaky.response.headers.get('x-tasklane-attempts')).toBe('2');
    const down = await client.messages
      .create({ model: 'down', max_tokens: 8, messages: [{ role: 'user', content: 'q' }], stream: true })
      .catch((e) => e);
    expect(down).toBeInstanceOf(Anthropic.APIError);
    expect(down.status).toBe(502);
    expect(down.error.error).toMatchObject({ type: 'api_error', code: 'TL_ERR_AI_ALL_FAILED' });
  });

  it('a cut or stalled stream ends with an error event and no message_stop', async () => {
    const client = await start({ cut: [{ provider: 'b', model: 'gpt-mock@cut' }], stall: [{ provider: 'b', model: 'gpt-mock@stall' }] });
    for (const model of ['cut', 'stall']) {
      const res = await fetch(`${t!.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
        body: JSON.stringify({ model, max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'a longer question to cut' }] }),
      });
      const text = await res.text();
      expect(res.status).toBe(200);
      expect(text).toContain('event: message_start');
      expect(text).toContain('event: content_block_delta');
      expect(text).not.toContain('message_stop');
      const last = text.trim().split('\n\n').at(-1)!;
      expect(last).toMatch(/^event: error\ndata: /);
      expect(JSON.parse(last.split('data: ')[1]!)).toMatchObject({
        type: 'error',
        error: { type: 'api_error', code: model === 'cut' ? 'TL_ERR_AI_STREAM_BROKEN' : 'TL_ERR_AI_TIMEOUT' },
      });
      // The SDK sees it as a failure, never as a whole message.
      const err = await client.messages
        .stream({ model, max_tokens: 8, messages: [{ role: 'user', content: 'a longer question to cut' }] })
        .finalMessage()
        .catch((e) => e);
      expect(err).toBeInstanceOf(Error);
    }
  });
});
