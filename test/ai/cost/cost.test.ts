import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { costOf } from '../../../src/ai/cost/price.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { tempDir, testServer } from '../../support/runtime.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;
const cleanups: Array<() => void> = [];

afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
  for (const c of cleanups.splice(0)) c();
});

/** Known usage from the mock: 1000 prompt tokens (200 of them cached upstream), 500 completion. */
const USAGE = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500, prompt_tokens_details: { cached_tokens: 200 } };
const PRICE = { input: 2, output: 8, cachedInput: 0.5 };
/** (800 × 2 + 200 × 0.5 + 500 × 8) / 1e6 */
const EXPECTED = (800 * 2 + 200 * 0.5 + 500 * 8) / 1_000_000;

async function gateway(extra: { ai?: Record<string, unknown>; models?: Record<string, unknown> } = {}) {
  mock = await startMockProvider({ chunkDelayMs: 0 });
  mock.respond((call) => (call.kind === 'embed' ? undefined : { usage: USAGE as never }));
  t = await testServer({
    server: { apiKeys: [{ key: 'alice-key', name: 'alice', tenant: 'acme' }] },
    providers: {
      a: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k-a'], models: ['gpt-mock', 'emb'] },
      b: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k-b'], models: ['gpt-mock'] },
    },
    models: {
      chat: [{ provider: 'a', model: 'gpt-mock' }],
      special: [{ provider: 'b', model: 'gpt-mock', price: { input: 10, output: 10 } }],
      ...(extra.models ?? {}),
    },
    ai: { prices: { 'a/gpt-mock': PRICE, 'a/emb': { input: 0.1, output: 0 } }, ...(extra.ai ?? {}) },
  } as never);
  return t.url;
}

describe('costOf', () => {
  it('prices fresh prompt, cached prompt and completion tokens per million, unrounded', () => {
    expect(costOf(USAGE, PRICE)).toBe(EXPECTED);
    expect(costOf({ prompt_tokens: 3, completion_tokens: 7, total_tokens: 10 }, { input: 0.15, output: 0.6 })).toBe(
      (3 * 0.15 + 7 * 0.6) / 1_000_000,
    );
    // No cachedInput price: cached tokens cost as input.
    expect(costOf(USAGE, { input: 2, output: 8 })).toBe((1000 * 2 + 500 * 8) / 1_000_000);
  });
});

describe('cost of every answer, through the gateway', () => {
  it('returns x-tasklane-cost-usd and usage.cost on a JSON answer, and usage.cost in the last chunk of a stream (openai client)', async () => {
    const url = await gateway();
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'alice-key', maxRetries: 0 });
    const { data, response } = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(response.headers.get('x-tasklane-cost-usd')).toBe(String(EXPECTED));
    expect((data.usage as unknown as { cost: number }).cost).toBe(EXPECTED);

    const stream = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'stream' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const usages: unknown[] = [];
    for await (const chunk of stream) if (chunk.usage) usages.push(chunk.usage);
    expect(usages).toHaveLength(1);
    expect((usages[0] as { cost: number }).cost).toBe(EXPECTED);

    // A target's own price wins over the table.
    const special = await client.chat.completions.create({ model: 'special', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(special.response.headers.get('x-tasklane-cost-usd')).toBe(String((1000 * 10 + 500 * 10) / 1_000_000));

    const metrics = await (await fetch(`${url}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('tasklane_ai_cost_usd_total{provider="a",model="gpt-mock",client="alice"}'));
    expect(Number(line?.split(' ').at(-1))).toBeCloseTo(2 * EXPECTED, 15);
    // Bounded labels: the client is the key's name, never the key.
    expect(metrics).not.toContain('alice-key');
  });

  it('prices embeddings, Messages and Responses answers the same way', async () => {
    const url = await gateway();
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'alice-key', maxRetries: 0 });
    const emb = await client.embeddings.create({ model: 'a/emb', input: ['one two three', 'four'] }).withResponse();
    const tokens = emb.data.usage.prompt_tokens;
    expect(tokens).toBeGreaterThan(0);
    expect(emb.response.headers.get('x-tasklane-cost-usd')).toBe(String((tokens * 0.1) / 1_000_000));
    expect((emb.data.usage as unknown as { cost: number }).cost).toBe((tokens * 0.1) / 1_000_000);

    const r = await client.responses.create({ model: 'chat', input: 'hello' }).withResponse();
    expect(r.response.headers.get('x-tasklane-cost-usd')).toBe(String(EXPECTED));
    expect((r.data.usage as unknown as { cost: number }).cost).toBe(EXPECTED);

    const anthropic = new Anthropic({ baseURL: url, apiKey: 'alice-key', maxRetries: 0 });
    const m = await anthropic.messages
      .create({ model: 'chat', max_tokens: 64, messages: [{ role: 'user', content: 'hey' }] })
      .withResponse();
    expect(m.response.headers.get('x-tasklane-cost-usd')).toBe(String(EXPECTED));
    expect((m.data.usage as unknown as { cost: number }).cost).toBe(EXPECTED);
  });

  it('a cache hit costs nothing: 0 in the header and usage.cost, JSON and stream, and only the first answer is charged', async () => {
    const url = await gateway({ ai: { cache: { enabled: true, mode: 'all' } } });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'alice-key', maxRetries: 0 });
    const ask = () => client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'same' }] }).withResponse();
    const first = await ask();
    expect(first.response.headers.get('x-tasklane-cost-usd')).toBe(String(EXPECTED));
    const hit = await ask();
    expect(hit.response.headers.get('x-tasklane-cache')).toBe('hit');
    expect(hit.response.headers.get('x-tasklane-cost-usd')).toBe('0');
    expect((hit.data.usage as unknown as { cost: number }).cost).toBe(0);
    const stream = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'same' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const usages: Array<{ cost?: number }> = [];
    for await (const chunk of stream) if (chunk.usage) usages.push(chunk.usage as never);
    expect(usages.map((u) => u.cost)).toEqual([0]);
    const spend = (await (await fetch(`${url}/v1/admin/spend`, { headers: { authorization: 'Bearer alice-key' } })).json()) as {
      rows: Array<{ scope: string; name: string; day: { usd: number; requests: number } }>;
    };
    expect(spend.rows.find((r) => r.scope === 'key' && r.name === 'alice')?.day).toMatchObject({ usd: EXPECTED, requests: 1 });
  });

  it('identical calls that share one upstream answer (single-flight) are charged once, and each answer says what it cost', async () => {
    const url = await gateway({
      models: { slow: [{ provider: 'a', model: 'gpt-mock@slow-first:300' }] },
      ai: { prices: { 'a/gpt-mock@slow-first:300': PRICE } },
    });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'alice-key', maxRetries: 0 });
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        client.chat.completions.create({ model: 'slow', messages: [{ role: 'user', content: 'shared' }] }).withResponse(),
      ),
    );
    expect(mock.calls.length).toBe(1);
    for (const a of answers) expect(a.response.headers.get('x-tasklane-cost-usd')).toBe(String(EXPECTED));
    const spend = (await (await fetch(`${url}/v1/admin/spend`, { headers: { authorization: 'Bearer alice-key' } })).json()) as {
      rows: Array<{ scope: string; name: string; day: { usd: number; requests: number } }>;
    };
    expect(spend.rows.find((r) => r.scope === 'key' && r.name === 'alice')?.day).toMatchObject({ usd: EXPECTED, requests: 1 });
  });

  it('takes a price (and a context window) declared once on the provider model, under a target’s own', async () => {
    mock = await startMockProvider({ chunkDelayMs: 0 });
    mock.respond({ usage: USAGE as never });
    t = await testServer({
      server: { apiKeys: [{ key: 'alice-key', name: 'alice' }] },
      providers: {
        a: {
          type: 'openai-compatible',
          baseURL: `${mock.url}/v1`,
          apiKeys: ['k-a'],
          models: { 'gpt-mock': { price: { input: 1, output: 1 }, contextWindow: 8_000 }, other: {} },
        },
      },
      models: {
        facts: [{ provider: 'a', model: 'gpt-mock' }],
        over: [{ provider: 'a', model: 'gpt-mock', price: { input: 3, output: 3 } }],
      },
    } as never);
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'alice-key', maxRetries: 0 });
    const cost = async (model: string) =>
      (await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }).withResponse()).response.headers.get(
        'x-tasklane-cost-usd',
      );
    expect(await cost('facts')).toBe(String(1500 / 1_000_000));
    expect(await cost('a/gpt-mock')).toBe(String(1500 / 1_000_000));
    expect(await cost('over')).toBe(String((1500 * 3) / 1_000_000));
    expect(await cost('a/other')).toBeNull();
    expect(t.runtime.ai.routes.resolve('facts').targets[0]!.contextWindow).toBe(8_000);
    // The map's names are the provider's declared models.
    await expect(client.chat.completions.create({ model: 'a/unknown', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('reads ai.pricesFile; the inline table wins on a clash; a model without a price has no cost', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const file = join(tmp.dir, 'prices.json');
    writeFileSync(file, JSON.stringify({ 'b/gpt-mock': { input: 1, output: 1 }, 'a/gpt-mock': { input: 99, output: 99 } }));
    const url = await gateway({
      ai: { pricesFile: file },
      models: { plain: [{ provider: 'b', model: 'gpt-mock' }], free: [{ provider: 'a', model: 'free' }] },
    });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'alice-key', maxRetries: 0 });
    const a = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(a.response.headers.get('x-tasklane-cost-usd')).toBe(String(EXPECTED));
    const b = await client.chat.completions.create({ model: 'plain', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(b.response.headers.get('x-tasklane-cost-usd')).toBe(String(1500 / 1_000_000));
    const free = await client.chat.completions.create({ model: 'free', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(free.response.headers.get('x-tasklane-cost-usd')).toBeNull();
    expect((free.data.usage as unknown as { cost?: number }).cost).toBeUndefined();
  });
});
