/**
 * Strict json_schema answers, checked by the gateway on every adapter (ajv): a non-conforming
 * answer fails that target and the next one serves; after the last, 502
 * TL_ERR_AI_SCHEMA_MISMATCH, or on a stream the in-band error instead of the end marker. Answers
 * without `strict` are not checked. And response_format and images reaching Ollama natively.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { testServer } from '../support/runtime.js';
import { aiConfig, collect } from './fixtures.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

const schema = {
  type: 'object',
  properties: { city: { type: 'string' }, population: { type: 'integer' } },
  required: ['city', 'population'],
  additionalProperties: false,
};
const format = (strict: boolean) => ({ type: 'json_schema' as const, json_schema: { name: 'place', schema, strict } });
const GOOD = '{"city":"Paris","population":2100000}';
const BAD = '{"city":"Paris","population":"many"}';

async function start(models: Record<string, unknown>) {
  mock = await startMockProvider();
  const config = aiConfig(mock.url, { models: models as never });
  config.providers = { ...config.providers, local: { type: 'ollama', baseURL: mock.url } } as never;
  t = await testServer(config);
  return new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}

describe('structured outputs', () => {
  it('a non-conforming answer fails over to the next target (no same-target retry) and the conforming one is served', async () => {
    const client = await start({
      s: [
        { provider: 'a', model: 'gpt-mock' },
        { provider: 'b', model: 'gpt-mock' },
      ],
    });
    mock.respond((c) => ({ text: c.key === 'key-b0' ? GOOD : BAD }));
    const r = await client.chat.completions
      .create({ model: 's', messages: [{ role: 'user', content: 'where?' }], response_format: format(true) })
      .withResponse();
    expect(JSON.parse(r.data.choices[0]!.message.content!)).toEqual({ city: 'Paris', population: 2100000 });
    expect(r.response.headers.get('x-tasklane-provider')).toBe('b');
    expect(mock.calls.map((c) => c.key)).toEqual(['key-a0', 'key-b0']);
  });

  it('after the last target: 502 TL_ERR_AI_SCHEMA_MISMATCH; on a stream the in-band error and no [DONE]', async () => {
    const client = await start({ s: [{ provider: 'a', model: 'gpt-mock' }] });
    mock.respond({ text: BAD });
    const err = await client.chat.completions
      .create({ model: 's', messages: [{ role: 'user', content: 'where?' }], response_format: format(true) })
      .catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.code).toBe('TL_ERR_AI_SCHEMA_MISMATCH');
    expect(err.message).toContain('/population');
    const s = await collect(
      await client.chat.completions.create({
        model: 's',
        messages: [{ role: 'user', content: 'where?' }],
        response_format: format(true),
        stream: true,
      }),
    );
    expect(s.text).toBe(BAD);
    expect(s.finish).toBeNull();
    expect((s.error as { code?: string }).code).toBe('TL_ERR_AI_SCHEMA_MISMATCH');
    // Not JSON at all is a mismatch too.
    mock.respond({ text: 'Paris, about two million' });
    const prose = await client.chat.completions
      .create({ model: 's', messages: [{ role: 'user', content: 'again?' }], response_format: format(true) })
      .catch((e) => e);
    expect(prose.code).toBe('TL_ERR_AI_SCHEMA_MISMATCH');
  });

  it('without strict the answer is not checked', async () => {
    const client = await start({ s: [{ provider: 'a', model: 'gpt-mock' }] });
    mock.respond({ text: BAD });
    const r = await client.chat.completions.create({
      model: 's',
      messages: [{ role: 'user', content: 'where?' }],
      response_format: format(false),
    });
    expect(r.choices[0]!.message.content).toBe(BAD);
  });

  it('Ollama gets response_format as format and image parts as images; a link image is refused, not dropped', async () => {
    const client = await start({ o: [{ provider: 'local', model: 'llava' }] });
    mock.respond({ text: GOOD });
    await client.chat.completions.create({
      model: 'o',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what city?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
      ],
      response_format: format(true),
    });
    expect(mock.calls[0]!.body).toMatchObject({
      format: schema,
      messages: [{ role: 'user', content: 'what city?', images: ['iVBORw0KGgo='] }],
    });
    await client.chat.completions.create({
      model: 'o',
      messages: [{ role: 'user', content: 'json please' }],
      response_format: { type: 'json_object' },
    });
    expect(mock.calls[1]!.body.format).toBe('json');
    const link = await client.chat.completions
      .create({
        model: 'o',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.invalid/a.png' } }] }],
      })
      .catch((e) => e);
    expect(link.status).toBe(400);
    expect(link.message).toContain('data URL');
    expect(mock.calls).toHaveLength(2);
  });
});
