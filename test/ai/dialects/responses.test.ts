/**
 * POST /v1/responses (stateless) as the official openai client uses it: plain and streamed,
 * function tools both ways, text.format json_schema, state refused with a 400 naming the field,
 * and the failure scenarios (429 fails over, a 5xx is retried; a cut or stalled stream ends with response.failed).
 */
import OpenAI from 'openai';
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

async function start(models: Record<string, unknown> = {}) {
  mock = await startMockProvider();
  t = await testServer(aiConfig(mock.url, { models: models as never }));
  return new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
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

const TOOL = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

describe('POST /v1/responses', () => {
  it('answers input as a string with instructions; output_text, usage and headers', async () => {
    const client = await start();
    const { data: r, response } = await client.responses
      .create({ model: 'chat', instructions: 'be brief', input: 'hello there', max_output_tokens: 50 })
      .withResponse();
    expect(r.object).toBe('response');
    expect(r.status).toBe('completed');
    expect(r.output_text).toBe('echo: hello there');
    expect(r.output[0]).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'output_text', text: 'echo: hello there' }],
    });
    expect(r.usage!.output_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-tasklane-provider')).toBe('a');
    expect(mock.calls[0]!.body).toMatchObject({
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hello there' },
      ],
      max_tokens: 50,
    });
  });

  it('streams the events the client expects, and the stream helper assembles the final response', async () => {
    const client = await start();
    const events: string[] = [];
    let text = '';
    for await (const e of await client.responses.create({
      model: 'chat',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'stream me' }] }],
      stream: true,
    })) {
      events.push(e.type);
      if (e.type === 'response.output_text.delta') text += e.delta;
    }
    expect(text).toBe('echo: stream me');
    expect(events.slice(0, 4)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    expect(events.slice(-4)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const final = await client.responses.stream({ model: 'chat', input: 'again' }).finalResponse();
    // The helper's final response is the response.completed snapshot (no output_text of its own).
    expect(final.output[0]).toMatchObject({
      type: 'message',
      status: 'completed',
      content: [{ type: 'output_text', text: 'echo: again' }],
    });
    expect(final.usage!.total_tokens).toBeGreaterThan(0);
  });

  it('function tools: calls come back (whole and streamed) and outputs go up as tool messages', async () => {
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
                content: null,
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
    const r = await client.responses.create({ model: 'chat', input: 'weather in Paris?', tools: [TOOL], tool_choice: 'auto' });
    expect(r.output).toEqual([
      expect.objectContaining({
        type: 'function_call',
        call_id: 'call_1',
        name: 'get_weather',
        arguments: '{"city":"Paris"}',
        status: 'completed',
      }),
    ]);
    expect(mock.calls[0]!.body.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: TOOL.parameters, strict: true } },
    ]);

    const final = await client.responses
      .stream({
        model: 'chat',
        tools: [TOOL],
        input: [
          { role: 'user', content: 'weather in Paris?' },
          { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { type: 'function_call_output', call_id: 'call_1', output: '21 C' },
          { role: 'user', content: 'and Rome?' },
        ],
      })
      .finalResponse();
    expect(final.output).toEqual([
      expect.objectContaining({ type: 'function_call', call_id: 'call_2', name: 'get_weather', arguments: '{"city": "Rome"}' }),
    ]);
    expect(mock.calls[1]!.body.messages).toEqual([
      { role: 'user', content: 'weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '21 C' },
      { role: 'user', content: 'and Rome?' },
    ]);
  });

  it('text.format json_schema becomes response_format', async () => {
    const client = await start();
    mock.respond({ text: '{"city":"Paris"}' });
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const r = await client.responses.create({
      model: 'chat',
      input: 'where?',
      text: { format: { type: 'json_schema', name: 'place', schema, strict: true } },
    });
    expect(JSON.parse(r.output_text)).toEqual({ city: 'Paris' });
    expect(mock.calls[0]!.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'place', schema, strict: true } });
  });

  it('refuses state with a 400 naming the field', async () => {
    const client = await start();
    for (const [extra, field] of [
      [{ previous_response_id: 'resp_1' }, 'previous_response_id'],
      [{ store: true }, 'store'],
      [{ tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    ] as const) {
      const err = await client.responses.create({ model: 'chat', input: 'x', ...(extra as object) } as never).catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.error).toMatchObject({ code: 'TL_ERR_VALIDATION', details: { field } });
      expect(err.message).toContain(field.split('[')[0]);
    }
    expect(mock.calls).toHaveLength(0);
    // store: false is what a stateless gateway does anyway.
    expect((await client.responses.create({ model: 'chat', input: 'x', store: false })).store).toBe(false);
  });

  it('429 fails over, a 5xx is retried; a cut or stalled stream ends with response.failed and never response.completed', async () => {
    const client = await start({
      limited: [
        { provider: 'a', model: 'gpt-mock@429-always' },
        { provider: 'b', model: 'gpt-mock' },
      ],
      cut: [{ provider: 'b', model: 'gpt-mock@cut' }],
      stall: [{ provider: 'b', model: 'gpt-mock@stall' }],
      flaky: [{ provider: 'b', model: 'gpt-mock@500-once' }],
    });
    const limited = await client.responses.create({ model: 'limited', input: 'q' }).withResponse();
    expect(limited.response.headers.get('x-tasklane-provider')).toBe('b');
    const flaky = await client.responses.create({ model: 'flaky', input: 'q', stream: true }).withResponse();
    const types: string[] = [];
    for await (const e of flaky.data) types.push(e.type);
    expect(types.at(-1)).toBe('response.completed');
    expect(flaky.response.headers.get('x-tasklane-attempts')).toBe('2');
    for (const model of ['cut', 'stall']) {
      const events: any[] = [];
      for await (const e of await client.responses.create({ model, input: 'a longer question to cut', stream: true })) events.push(e);
      expect(events.map((e) => e.type)).toContain('response.output_text.delta');
      expect(events.map((e) => e.type)).not.toContain('response.completed');
      const last = events.at(-1);
      expect(last.type).toBe('response.failed');
      expect(last.response).toMatchObject({
        status: 'failed',
        error: { code: model === 'cut' ? 'TL_ERR_AI_STREAM_BROKEN' : 'TL_ERR_AI_TIMEOUT' },
      });
      expect(events.map((e) => e.sequence_number)).toEqual(events.map((_e, i) => i));
    }
  });
});
