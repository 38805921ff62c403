/**
 * POST /v1/embeddings as the official openai client and LangChain use it, against the gateway on
 * loopback and the mock upstream in its OpenAI, Ollama and Hugging Face shapes: float and base64
 * vectors, arrays in order, dimensions, usage and x-tasklane-* headers; failover on 429, 5xx and a
 * stalled upstream; the cache; runtime.ai.embed() and ctx.ai.embed() from a thread.
 */
import OpenAI from 'openai';
import { OpenAIEmbeddings } from '@langchain/openai';
import { afterEach, describe, expect, it } from 'vitest';
import { mockVector } from '../../support/mock-provider/embeddings.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';
import { fixture } from '../../lanes/helpers.js';
import { aiConfig } from '../fixtures.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });

async function start(models: Record<string, unknown>, over: Parameters<typeof aiConfig>[1] = {}) {
  mock = await startMockProvider({ slowMs: 3_000 });
  const base = aiConfig(mock.url, { ...over, models: models as never });
  base.providers = {
    ...base.providers,
    local: { type: 'ollama', baseURL: mock.url },
    hf: { type: 'huggingface', baseURL: `${mock.url}/hf/v1`, apiKeys: ['hf-key'] },
  } as never;
  t = await testServer(base);
  return t;
}

const post = (url: string, body: unknown) =>
  fetch(`${url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('POST /v1/embeddings', () => {
  it('answers the openai client (its default base64 and float), arrays in order, dimensions, usage and headers', async () => {
    await start({ emb: [{ provider: 'a', model: 'embed-mock' }] });
    const c = client(t!.url);
    // The openai client asks for base64 by default and decodes it: exact float32 round trip.
    const one = await c.embeddings.create({ model: 'emb', input: 'hello world' });
    expect(one.data).toHaveLength(1);
    expect(one.data[0]!.embedding).toEqual(mockVector('hello world'));
    expect(one.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 });
    expect(mock.calls[0]!.body).toMatchObject({ model: 'embed-mock', input: ['hello world'], encoding_format: 'float' });

    const many = await c.embeddings.create({ model: 'emb', input: ['one', 'two', 'three'], dimensions: 40, encoding_format: 'float' });
    expect(many.data.map((d) => d.index)).toEqual([0, 1, 2]);
    expect(many.data.map((d) => d.embedding)).toEqual(['one', 'two', 'three'].map((s) => mockVector(s, 40)));
    expect(mock.calls.at(-1)!.body.dimensions).toBe(40);

    const raw = await c.embeddings.create({ model: 'emb', input: 'x' }).withResponse();
    expect(raw.response.headers.get('x-tasklane-provider')).toBe('a');
    expect(raw.response.headers.get('x-tasklane-model')).toBe('embed-mock');
    expect(raw.response.headers.get('x-tasklane-attempts')).toBe('1');

    const b64 = await (await post(t!.url, { model: 'emb', input: 'x', encoding_format: 'base64' })).json();
    expect(typeof b64.data[0].embedding).toBe('string');
    const bytes = Buffer.from(b64.data[0].embedding, 'base64');
    expect([...new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)]).toEqual(mockVector('x'));
  });

  it('LangChain OpenAIEmbeddings embeds documents and a query through the gateway', async () => {
    await start({ emb: [{ provider: 'a', model: 'embed-mock' }] });
    const lc = new OpenAIEmbeddings({ model: 'emb', apiKey: 'unused', configuration: { baseURL: `${t!.url}/v1` }, maxRetries: 0 });
    const docs = await lc.embedDocuments(['alpha', 'beta']);
    expect(docs).toEqual([mockVector('alpha'), mockVector('beta')]);
    expect(await lc.embedQuery('gamma')).toEqual(mockVector('gamma'));
  });

  it('fails over on 429 and on a stalled upstream, retries a 5xx on the same target', async () => {
    await start({
      limited: [
        { provider: 'a', model: 'embed-mock@429-always' },
        { provider: 'b', model: 'embed-mock' },
      ],
      stalled: [
        { provider: 'a', model: 'embed-mock@hang' },
        { provider: 'b', model: 'embed-mock' },
      ],
      // b has one key: the retry is the same key and target.
      flaky: [{ provider: 'b', model: 'embed-mock@500-once' }],
    });
    const c = client(t!.url);
    const limited = await c.embeddings.create({ model: 'limited', input: 'q', encoding_format: 'float' }).withResponse();
    expect(limited.data.data[0]!.embedding).toEqual(mockVector('q'));
    expect(limited.response.headers.get('x-tasklane-provider')).toBe('b');
    // Both keys of a were cooled by the 429 before b answered.
    expect(
      mock.calls
        .filter((x) => x.model === 'embed-mock@429-always')
        .map((x) => x.key)
        .sort(),
    ).toEqual(['key-a0', 'key-a1']);

    const stalled = await c.embeddings.create({ model: 'stalled', input: 'q', encoding_format: 'float' }).withResponse();
    expect(stalled.response.headers.get('x-tasklane-provider')).toBe('b');

    const flaky = await c.embeddings.create({ model: 'flaky', input: 'q', encoding_format: 'float' }).withResponse();
    expect(flaky.response.headers.get('x-tasklane-provider')).toBe('b');
    expect(flaky.response.headers.get('x-tasklane-attempts')).toBe('2');
  });

  it('the last failure reaches the client in OpenAI shape with its code', async () => {
    await start({ down: [{ provider: 'a', model: 'embed-mock@503-always' }] }, { ai: { maxAttempts: 2 } });
    const err = await client(t!.url)
      .embeddings.create({ model: 'down', input: 'q' })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(502);
    expect(err.code).toBe('TL_ERR_AI_ALL_FAILED');
  });

  it('serves a repeat from the cache when the cache is on, and cache-control: no-cache skips it', async () => {
    await start({ emb: [{ provider: 'a', model: 'embed-mock' }] }, { ai: { cache: { enabled: true } } });
    const c = client(t!.url);
    const first = await c.embeddings.create({ model: 'emb', input: ['a', 'b'], encoding_format: 'float' }).withResponse();
    expect(first.response.headers.get('x-tasklane-cache')).toBe('miss');
    const again = await c.embeddings.create({ model: 'emb', input: ['a', 'b'] }).withResponse();
    expect(again.response.headers.get('x-tasklane-cache')).toBe('hit');
    expect(again.data.data.map((d) => d.embedding)).toEqual([mockVector('a'), mockVector('b')]);
    expect(again.data.usage.prompt_tokens).toBe(2);
    expect(mock.calls).toHaveLength(1);
    const bypass = await c.embeddings
      .create({ model: 'emb', input: ['a', 'b'] }, { headers: { 'cache-control': 'no-cache' } })
      .withResponse();
    expect(bypass.response.headers.get('x-tasklane-cache')).toBe('bypass');
    expect(mock.calls).toHaveLength(2);
    // Other dimensions are another answer.
    await c.embeddings.create({ model: 'emb', input: ['a', 'b'], dimensions: 4 });
    expect(mock.calls).toHaveLength(3);
  });

  it('reaches Ollama /api/embed and Hugging Face feature extraction in their shapes', async () => {
    await start({ ol: [{ provider: 'local', model: 'nomic-embed-text' }], hfe: [{ provider: 'hf', model: 'BAAI/bge-small-en-v1.5' }] });
    const c = client(t!.url);
    const ol = await c.embeddings.create({ model: 'ol', input: ['x', 'y'], dimensions: 16 });
    expect(ol.data.map((d) => d.embedding)).toEqual([mockVector('x', 16), mockVector('y', 16)]);
    expect(ol.usage.prompt_tokens).toBe(2);
    expect(mock.calls[0]).toMatchObject({ path: '/api/embed', body: { model: 'nomic-embed-text', input: ['x', 'y'], dimensions: 16 } });
    const hf = await c.embeddings.create({ model: 'hfe', input: ['z'] });
    expect(hf.data[0]!.embedding).toEqual(mockVector('z'));
    expect(mock.calls[1]).toMatchObject({
      path: '/hf/hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction',
      key: 'hf-key',
      body: { inputs: ['z'] },
    });
  });

  it('skips targets without embeddings; a route with none is 400 TL_ERR_AI_UNSUPPORTED', async () => {
    mock = await startMockProvider();
    const base = aiConfig(mock.url, {
      models: {
        mixed: [
          { provider: 'claude', model: 'claude-mock' },
          { provider: 'b', model: 'embed-mock' },
        ],
        only: [{ provider: 'claude', model: 'claude-mock' }],
      } as never,
    });
    base.providers = { ...base.providers, claude: { type: 'anthropic', baseURL: mock.url, apiKeys: ['sk-ant-000000001'] } } as never;
    t = await testServer(base);
    const c = client(t.url);
    const mixed = await c.embeddings.create({ model: 'mixed', input: 'x' }).withResponse();
    expect(mixed.response.headers.get('x-tasklane-provider')).toBe('b');
    expect(mixed.response.headers.get('x-tasklane-attempts')).toBe('1');
    const only = await c.embeddings.create({ model: 'only', input: 'x' }).catch((e) => e);
    expect(only.status).toBe(400);
    expect(only.code).toBe('TL_ERR_AI_UNSUPPORTED');
    expect(mock.calls).toHaveLength(1);
  });

  it('refuses bad input with 400 in OpenAI shape', async () => {
    await start({ emb: [{ provider: 'a', model: 'embed-mock' }] });
    for (const body of [
      { model: 'emb' },
      { model: 'emb', input: [] },
      { model: 'emb', input: [[1, 2]] },
      { model: 'emb', input: 'x', encoding_format: 'int8' },
      { model: 'emb', input: 'x', dimensions: 0 },
    ]) {
      const r = await post(t!.url, body);
      expect(r.status).toBe(400);
      expect((await r.json()).error).toMatchObject({ code: 'TL_ERR_VALIDATION', type: 'invalid_request_error' });
    }
    expect(mock.calls).toHaveLength(0);
  });

  it('runtime.ai.embed() and ctx.ai.embed() from a thread go through the same orchestrator', async () => {
    await start({ emb: [{ provider: 'b', model: 'embed-mock@500-once' }] });
    const direct = await t!.runtime.ai.embed({ model: 'emb', input: 'main' });
    expect(direct.response.data[0]!.embedding).toEqual(mockVector('main'));
    expect(direct.meta.attempts).toBe(2);
    const out = await t!.runtime.lanes.run<any>('data', fixture('ai-embed'), { texts: ['t1', 't2'] });
    expect(out.threadId).toBeGreaterThan(0);
    expect(out.vectors).toEqual([mockVector('t1'), mockVector('t2')]);
    const bad = await t!.runtime.lanes.run<any>('data', fixture('ai-embed'), { texts: ['t'], model: 'nope' });
    expect(bad.caught.code).toBe('TL_ERR_AI_UNKNOWN_MODEL');
  });
});
