/**
 * The native Gemini adapter through the gateway, against the mock in Gemini's wire format: the
 * request it sends (path, x-goog-api-key, systemInstruction, contents, generationConfig with JSON
 * mode and responseSchema, tools, images), answers whole and streamed (SSE with no end marker),
 * tool calls, embeddings, safety blocks as the content filter, and each failure scenario:
 * RESOURCE_EXHAUSTED cools for the RetryInfo delay and fails over, 503 is retried, a cut stream
 * and a stall end in-band.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGeminiError } from '../../../src/ai/providers/gemini/parse-error.js';
import { mockVector } from '../../support/mock-provider/embeddings.js';
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

async function start(models: Record<string, unknown>) {
  mock = await startMockProvider({ retryAfterSeconds: 3 });
  const config = aiConfig(mock.url, { models: models as never });
  config.providers = {
    ...config.providers,
    gem: { type: 'gemini', baseURL: `${mock.url}/v1beta`, apiKeys: ['AIza-test-000001', 'AIza-test-000002'] },
  } as never;
  t = await testServer(config);
  return new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}

describe('gemini adapter', () => {
  it('sends generateContent in Gemini words and reads the answer, whole and streamed', async () => {
    const client = await start({ g: [{ provider: 'gem', model: 'gemini-mock' }] });
    const r = await client.chat.completions.create({
      model: 'g',
      messages: [
        { role: 'system', content: 'be brief' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is in it?' },
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/AA==' } },
          ],
        },
      ],
      temperature: 0.1,
      max_tokens: 99,
      stop: 'END',
    });
    expect(r.choices[0]!.message.content).toBe('echo: what is in it?');
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(r.usage!.prompt_tokens).toBeGreaterThan(0);
    const sent = mock.calls[0]!;
    expect(sent.path).toBe('/v1beta/models/gemini-mock:generateContent');
    expect(sent.key).toBe('AIza-test-000001');
    expect(sent.body).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'what is in it?' }, { inlineData: { mimeType: 'image/jpeg', data: '/9j/AA==' } }] }],
      systemInstruction: { parts: [{ text: 'be brief' }] },
      generationConfig: { temperature: 0.1, maxOutputTokens: 99, stopSequences: ['END'] },
    });
    const s = await collect(
      await client.chat.completions.create({ model: 'g', messages: [{ role: 'user', content: 'stream this one' }], stream: true }),
    );
    expect(s.error).toBeUndefined();
    expect(s.text).toBe('echo: stream this one');
    expect(s.finish).toBe('stop');
    expect(mock.calls[1]!.path).toBe('/v1beta/models/gemini-mock:streamGenerateContent');
  });

  it("json_schema becomes responseMimeType and a responseSchema in Gemini's subset; tools go as functionDeclarations", async () => {
    const client = await start({ g: [{ provider: 'gem', model: 'gemini-mock' }] });
    mock.respond([
      { text: '{"city":"Paris"}' },
      {
        status: 200,
        body: {
          candidates: [
            {
              content: { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Rome' } } }] },
              finishReason: 'STOP',
              index: 0,
            },
          ],
          usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 2, totalTokenCount: 6 },
        },
      },
    ]);
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: { city: { type: 'string' }, zip: { type: ['string', 'null'] } },
      required: ['city'],
      additionalProperties: false,
    };
    const r = await client.chat.completions.create({
      model: 'g',
      messages: [{ role: 'user', content: 'where?' }],
      response_format: { type: 'json_schema', json_schema: { name: 'place', schema, strict: true } },
    });
    expect(JSON.parse(r.choices[0]!.message.content!)).toEqual({ city: 'Paris' });
    expect(mock.calls[0]!.body.generationConfig).toEqual({
      responseMimeType: 'application/json',
      responseSchema: {
        type: 'object',
        properties: { city: { type: 'string' }, zip: { type: 'string', nullable: true } },
        required: ['city'],
      },
    });
    const tools = await client.chat.completions.create({
      model: 'g',
      messages: [{ role: 'user', content: 'weather in Rome?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, additionalProperties: false },
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    expect(tools.choices[0]!.finish_reason).toBe('tool_calls');
    expect(tools.choices[0]!.message.tool_calls![0]!.function).toEqual({ name: 'get_weather', arguments: '{"city":"Rome"}' });
    expect(mock.calls[1]!.body).toMatchObject({
      tools: [
        {
          functionDeclarations: [
            { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } },
    });
  });

  it('embeddings through batchEmbedContents', async () => {
    const client = await start({ ge: [{ provider: 'gem', model: 'text-embedding-004' }] });
    const r = await client.embeddings.create({ model: 'ge', input: ['a', 'b'], dimensions: 12 });
    expect(r.data.map((d) => d.embedding)).toEqual([mockVector('a', 12), mockVector('b', 12)]);
    expect(mock.calls[0]).toMatchObject({
      path: '/v1beta/models/text-embedding-004:batchEmbedContents',
      body: {
        requests: [
          { model: 'models/text-embedding-004', content: { parts: [{ text: 'a' }] }, outputDimensionality: 12 },
          expect.anything(),
        ],
      },
    });
  });

  it('a blocked prompt is the content filter (400); a SAFETY finish is finish_reason content_filter', async () => {
    const client = await start({
      blocked: [{ provider: 'gem', model: 'gemini-mock@content-filter' }],
      unsafe: [{ provider: 'gem', model: 'gemini-mock@content-filter-finish' }],
    });
    const err = await client.chat.completions.create({ model: 'blocked', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err.status).toBe(400);
    expect(err.code).toBe('TL_ERR_AI_CONTENT_FILTER');
    expect(mock.calls).toHaveLength(1);
    const s = await collect(
      await client.chat.completions.create({
        model: 'unsafe',
        messages: [{ role: 'user', content: 'a somewhat longer question' }],
        stream: true,
      }),
    );
    expect(s.finish).toBe('content_filter');
  });

  it('RESOURCE_EXHAUSTED cools the key for the RetryInfo delay and fails over; 503 is retried; cut and stall end in-band', async () => {
    const client = await start({
      limited: [
        { provider: 'gem', model: 'gemini-mock@429-always' },
        { provider: 'b', model: 'gpt-mock' },
      ],
      // The mock fails once per key: two keys, two retries.
      flaky: [{ provider: 'gem', model: 'gemini-mock@500-once', retries: 2 }],
      cut: [{ provider: 'gem', model: 'gemini-mock@cut' }],
      stall: [{ provider: 'gem', model: 'gemini-mock@stall' }],
    });
    const limited = await client.chat.completions.create({ model: 'limited', messages: [{ role: 'user', content: 'q' }] }).withResponse();
    expect(limited.response.headers.get('x-tasklane-provider')).toBe('b');
    const pairs = JSON.stringify(t!.runtime.ai.health());
    expect(pairs).toContain('gemini-mock@429-always');
    const limitedCall = mock.calls.find((c) => c.model === 'gemini-mock@429-always')!;
    expect(limitedCall).toBeTruthy();
    // The mock's 429 carries RetryInfo 3s, as Gemini's RESOURCE_EXHAUSTED does.
    const body = await (await fetch(`${mock.url}/v1beta/models/x@429-always:generateContent`, { method: 'POST', body: '{}' })).text();
    expect(parseGeminiError(body)).toMatchObject({ type: 'RESOURCE_EXHAUSTED', retryAfterMs: 3_000 });
    const flaky = await client.chat.completions.create({ model: 'flaky', messages: [{ role: 'user', content: 'q' }] }).withResponse();
    expect(flaky.data.choices[0]!.message.content).toBe('echo: q');
    expect(Number(flaky.response.headers.get('x-tasklane-attempts'))).toBeGreaterThanOrEqual(2);
    for (const model of ['cut', 'stall']) {
      const s = await collect(
        await client.chat.completions.create({
          model,
          messages: [{ role: 'user', content: 'a longer question to be cut off' }],
          stream: true,
        }),
      );
      expect(s.text.length).toBeGreaterThan(0);
      expect(s.finish).toBeNull();
      expect(s.error).toBeDefined();
    }
  });
});

describe('gemini adapter streams', () => {
  it('functionCall parts stream as whole tool calls; usage comes from the last chunk; a malformed chunk is dropped and the stream goes on', async () => {
    const client = await start({ g: [{ provider: 'gem', model: 'gemini-mock' }] });
    const chunk = (o: unknown) => `data: ${JSON.stringify(o)}\r\n\r\n`;
    mock.respond([
      {
        raw: [
          chunk({
            candidates: [{ content: { role: 'model', parts: [{ text: 'Checking ' }] }, index: 0 }],
            usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 },
          }),
          chunk({
            candidates: [
              {
                content: {
                  role: 'model',
                  parts: [
                    { functionCall: { name: 'get_weather', args: { city: 'Oslo' } } },
                    { functionCall: { name: 'get_time', args: {} } },
                  ],
                },
                finishReason: 'STOP',
                index: 0,
              },
            ],
            usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 6, totalTokenCount: 14 },
          }),
        ],
      },
      {
        raw: [
          chunk({ candidates: [{ content: { role: 'model', parts: [{ text: 'Hal' }] }, index: 0 }] }),
          'data: {"candidates": [\r\n\r\n',
          chunk({ candidates: [{ content: { role: 'model', parts: [{ text: 'f' }] }, finishReason: 'STOP', index: 0 }] }),
        ],
      },
    ]);
    const stream = await client.chat.completions.create({
      model: 'g',
      messages: [{ role: 'user', content: 'weather and time?' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const calls: Array<{ name: string; args: string }> = [];
    let text = '';
    let finish: string | null = null;
    let usage: unknown;
    for await (const c of stream) {
      if (c.usage) usage = c.usage;
      const ch = c.choices[0];
      if (!ch) continue;
      text += ch.delta.content ?? '';
      for (const tc of ch.delta.tool_calls ?? [])
        ((calls[tc.index] ??= { name: '', args: '' }).name += tc.function?.name ?? ''),
          (calls[tc.index]!.args += tc.function?.arguments ?? '');
      finish = ch.finish_reason ?? finish;
    }
    expect(text).toBe('Checking ');
    expect(calls).toEqual([
      { name: 'get_weather', args: '{"city":"Oslo"}' },
      { name: 'get_time', args: '{}' },
    ]);
    expect(finish).toBe('tool_calls');
    expect(usage).toMatchObject({ prompt_tokens: 8, completion_tokens: 6, total_tokens: 14 });
    const skipped = await collect(
      await client.chat.completions.create({ model: 'g', messages: [{ role: 'user', content: 'x' }], stream: true }),
    );
    expect(skipped.error).toBeUndefined();
    expect(skipped.text).toBe('Half');
    expect(skipped.finish).toBe('stop');
  });
});
