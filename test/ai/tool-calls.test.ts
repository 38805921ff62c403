/**
 * Tool calls through the gateway, as the official openai client sees them: streamed in pieces
 * (OpenAI's wire) or whole (Ollama's), plain answers, replays from the cache, and a stream that
 * breaks after a tool call began (an error, never a continuation or a truncated success).
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { testServer } from '../support/runtime.js';
import { aiConfig } from './fixtures.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

const TOOLS = [
  {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
  { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } } } } },
];

const data = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const piece = (delta: Record<string, unknown>, finish: string | null = null) =>
  data({
    id: 'chatcmpl-tools',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'gpt-mock',
    choices: [{ index: 0, delta, finish_reason: finish }],
  });

/** A stream as OpenAI sends two parallel tool calls: ids and names first, arguments in pieces. */
function toolStream(opts: { finish?: boolean } = {}): string[] {
  const out = [
    piece({ role: 'assistant', content: null }),
    piece({ tool_calls: [{ index: 0, id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
    piece({ tool_calls: [{ index: 0, function: { arguments: '{"ci' } }] }),
    piece({ tool_calls: [{ index: 0, function: { arguments: 'ty": "Par' } }] }),
    piece({ tool_calls: [{ index: 0, function: { arguments: 'is"}' } }] }),
    piece({ tool_calls: [{ index: 1, id: 'call_t2', type: 'function', function: { name: 'get_time', arguments: '{"zone":' } }] }),
  ];
  if (opts.finish === false) return out;
  return [...out, piece({ tool_calls: [{ index: 1, function: { arguments: ' "CET"}' } }] }), piece({}, 'tool_calls'), 'data: [DONE]\n\n'];
}

/** Puts streamed tool calls together the way an SDK user does. */
async function collectTools(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
  const calls: Array<{ id: string; name: string; arguments: string }> = [];
  let finish: string | null = null;
  let text = '';
  let error: Error | undefined;
  try {
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      text += choice.delta.content ?? '';
      for (const c of choice.delta.tool_calls ?? []) {
        const call = (calls[c.index] ??= { id: '', name: '', arguments: '' });
        if (c.id) call.id = c.id;
        if (c.function?.name) call.name += c.function.name;
        if (c.function?.arguments) call.arguments += c.function.arguments;
      }
      finish = choice.finish_reason ?? finish;
    }
  } catch (err) {
    error = err as Error;
  }
  return { calls, finish, text, error };
}

const WANT = [
  { id: 'call_w1', name: 'get_weather', arguments: '{"city": "Paris"}' },
  { id: 'call_t2', name: 'get_time', arguments: '{"zone": "CET"}' },
];

describe('tool calls through the gateway', () => {
  it('streams OpenAI tool-call pieces to the openai client whole and in order, and replays them from the cache', async () => {
    mock = await startMockProvider();
    t = await testServer(aiConfig(mock.url));
    mock.respond(() => ({ raw: toolStream() }));
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const ask = {
      model: 'chat',
      messages: [{ role: 'user' as const, content: 'weather and time in Paris?' }],
      tools: TOOLS,
      stream: true as const,
    };

    const first = await collectTools(await client.chat.completions.create(ask));
    expect(first.error).toBeUndefined();
    expect(first.calls).toEqual(WANT);
    expect(first.finish).toBe('tool_calls');
    expect(first.text).toBe('');
    // The tools went upstream as sent.
    expect(mock.calls[0]!.body.tools).toEqual(TOOLS);

    const again = await client.chat.completions.create(ask).withResponse();
    expect(again.response.headers.get('x-tasklane-cache')).toBe('hit');
    const replayed = await collectTools(again.data);
    expect(replayed.calls).toEqual(WANT);
    expect(replayed.finish).toBe('tool_calls');
    expect(mock.calls).toHaveLength(1);

    // The cached answer also serves the plain call, with the tool calls in the message.
    const plain = await client.chat.completions.create({ ...ask, stream: false });
    expect(
      plain.choices[0]!.message.tool_calls?.map((c) => (c.type === 'function' ? [c.id, c.function.name, c.function.arguments] : [])),
    ).toEqual(WANT.map((w) => [w.id, w.name, w.arguments]));
    expect(plain.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('a stream that breaks after a tool call began ends with an error: no continuation, no truncated success', async () => {
    mock = await startMockProvider();
    t = await testServer(
      aiConfig(mock.url, {
        models: {
          r: {
            targets: [
              { provider: 'a', model: 'gpt-mock' },
              { provider: 'b', model: 'gpt-mock' },
            ],
            continuation: true,
          },
        },
      }),
    );
    mock.respond((call) => (call.key === 'key-b0' ? undefined : { raw: toolStream({ finish: false }) }));
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const r = await collectTools(
      await client.chat.completions.create({ model: 'r', messages: [{ role: 'user', content: 'weather?' }], tools: TOOLS, stream: true }),
    );
    expect(r.error).toBeDefined();
    expect(r.finish).toBeNull();
    expect(r.calls[0]).toMatchObject({ id: 'call_w1', name: 'get_weather' });
    // Nobody was asked to continue a prefill of tool calls.
    expect(mock.calls.filter((c) => c.key === 'key-b0')).toHaveLength(0);
  });

  it('turns Ollama tool calls (whole, arguments as objects) into OpenAI pieces, stream and plain, and sends tools and tool turns back', async () => {
    mock = await startMockProvider();
    t = await testServer({
      providers: { o: { type: 'ollama', baseURL: mock.url } },
      models: { local: [{ provider: 'o', model: 'llama3.2:latest' }] },
      ai: { cache: { enabled: false } },
    });
    const line = (o: unknown) => `${JSON.stringify({ model: 'llama3.2:latest', created_at: '2026-11-23T08:00:00Z', ...(o as object) })}\n`;
    const calls = [
      { function: { name: 'get_weather', arguments: { city: 'Paris' } } },
      { function: { name: 'get_time', arguments: { zone: 'CET' } } },
    ];
    mock.respond((call) =>
      call.stream
        ? {
            raw: [
              line({ message: { role: 'assistant', content: '', tool_calls: calls }, done: false }),
              line({ message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 5, eval_count: 7 }),
            ],
            contentType: 'application/x-ndjson',
          }
        : {
            status: 200,
            body: JSON.parse(line({ message: { role: 'assistant', content: '', tool_calls: calls }, done: true, done_reason: 'stop' })),
          },
    );
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const history = [
      { role: 'user' as const, content: 'weather?' },
      {
        role: 'assistant' as const,
        content: null,
        tool_calls: [{ id: 'call_0', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }],
      },
      { role: 'tool' as const, tool_call_id: 'call_0', content: 'sunny' },
      { role: 'user' as const, content: 'and Paris?' },
    ];
    const s = await collectTools(await client.chat.completions.create({ model: 'local', messages: history, tools: TOOLS, stream: true }));
    expect(s.error).toBeUndefined();
    expect(s.calls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([
      ['get_weather', { city: 'Paris' }],
      ['get_time', { zone: 'CET' }],
    ]);
    expect(s.calls.every((c) => c.id.startsWith('call_'))).toBe(true);
    expect(s.finish).toBe('tool_calls');
    const sent = mock.calls[0]!.body;
    expect(sent.tools).toEqual(TOOLS);
    expect(sent.messages[1]).toMatchObject({
      role: 'assistant',
      tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Rome' } } }],
    });
    expect(sent.messages[2]).toMatchObject({ role: 'tool', content: 'sunny' });

    const plain = await client.chat.completions.create({ model: 'local', messages: history, tools: TOOLS });
    const msg = plain.choices[0]!.message;
    expect(msg.tool_calls?.map((c) => (c.type === 'function' ? [c.function.name, JSON.parse(c.function.arguments)] : []))).toEqual([
      ['get_weather', { city: 'Paris' }],
      ['get_time', { zone: 'CET' }],
    ]);
    expect(plain.choices[0]!.finish_reason).toBe('tool_calls');
  });
});
