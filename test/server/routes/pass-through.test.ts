import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { aiConfig } from '../../ai/fixtures.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

// Upstream events written the way no JSON.stringify would (spaces, field order, a field of its own),
// so a forwarded event is told apart from a re-serialised one.
const ev = (delta: string, extra = '') =>
  `{ "id": "up-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-mock", "system_fingerprint": "fp_up"${extra}, "choices": [ { "index": 0, "delta": ${delta}, "finish_reason": null } ] }`;
const mid1 = ev('{ "content": " lovely" }');
const mid2 = ev('{ "content": " world" }', ', "x_upstream": 7');
const finish = `{ "id": "up-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-mock", "choices": [ { "index": 0, "delta": {}, "finish_reason": "stop" } ] }`;
const usage = `{ "id": "up-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-mock", "choices": [], "usage": { "prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6 } }`;

async function sse(url: string, body: Record<string, unknown>): Promise<{ status: number; data: string[] }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stream: true, ...body }),
  });
  const text = await res.text();
  return {
    status: res.status,
    data: text
      .split('\n\n')
      .filter((f) => f.startsWith('data: '))
      .map((f) => f.slice(6)),
  };
}

describe('same-dialect pass-through (issue 19.3)', () => {
  it('forwards a stream event as the upstream wrote it once it parsed; the first chunk, the finish and usage are ours', async () => {
    mock = await startMockProvider();
    t = await testServer(aiConfig(mock.url, { ai: { cache: { enabled: false } } }));
    mock.respond(() => ({
      raw: [
        `data: ${ev('{ "role": "assistant", "content": "Hello" }')}\n\n`,
        `data: ${mid1}\n\n`,
        'data: {not json\n\n',
        `data: ${mid2}\n\n`,
        `data: ${finish}\n\n`,
        `data: ${usage}\n\n`,
        'data: [DONE]\n\n',
      ],
    }));
    const { status, data } = await sse(t.url, { model: 'chat', stream_options: { include_usage: true } });
    expect(status).toBe(200);
    // The malformed event is dropped; the two content events are the upstream's own bytes.
    expect(data).toHaveLength(6);
    expect(JSON.parse(data[0]!).choices[0].delta).toEqual({ role: 'assistant', content: 'Hello' });
    expect(data[1]).toBe(mid1);
    expect(data[2]).toBe(mid2);
    expect(JSON.parse(data[3]!).choices[0]).toEqual({ index: 0, delta: {}, finish_reason: 'stop' });
    expect(JSON.parse(data[4]!).usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 });
    expect(data[5]).toBe('[DONE]');

    // The official client reads the mix as one answer.
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello lovely world');
  });

  it('re-serialises an event that says more than one piece, or names another model; a cut stream still ends in the in-band error', async () => {
    mock = await startMockProvider();
    t = await testServer(aiConfig(mock.url, { ai: { cache: { enabled: false } } }));
    const otherModel = mid1.replace('"model": "gpt-mock"', '"model": "gpt-mock-2024"');
    const withFinish = ev('{ "content": "!" }').replace('"finish_reason": null', '"finish_reason": "stop"');
    mock.respond(() => ({
      raw: [
        `data: ${ev('{ "role": "assistant", "content": "Hi" }')}\n\n`,
        `data: ${otherModel}\n\n`,
        `data: ${withFinish}\n\n`,
        'data: [DONE]\n\n',
      ],
    }));
    const a = await sse(t.url, { model: 'chat' });
    expect(a.data).toHaveLength(5);
    expect(a.data[1]).not.toBe(otherModel);
    expect(JSON.parse(a.data[1]!).model).toBe('gpt-mock');
    // Content and finish in one event: the content is ours, then our finish chunk.
    expect(JSON.parse(a.data[2]!).choices[0]).toEqual({ index: 0, delta: { content: '!' }, finish_reason: null });
    expect(JSON.parse(a.data[3]!).choices[0]).toEqual({ index: 0, delta: {}, finish_reason: 'stop' });
    expect(a.data[4]).toBe('[DONE]');

    // Cut after two forwarded events: the in-band error, never [DONE].
    mock.respond(() => ({
      raw: [`data: ${ev('{ "role": "assistant", "content": "Hi" }')}\n\n`, `data: ${mid1}\n\n`, `data: ${mid2}\n\n`],
    }));
    const b = await sse(t.url, { model: 'chat' });
    expect(b.data.slice(1, 3)).toEqual([mid1, mid2]);
    expect(b.data).not.toContain('[DONE]');
    expect(JSON.parse(b.data.at(-1)!).error.code).toBe('TL_ERR_AI_STREAM_BROKEN');
  });

  it('answers a plain JSON call with the upstream body when nothing in it is rewritten; a rewrite (a price, a finish alias) re-serialises', async () => {
    mock = await startMockProvider();
    const body = (finishReason: string) =>
      `{ "id": "up-2", "object": "chat.completion", "created": 1700000000, "model": "gpt-mock", "system_fingerprint": "fp_up", "choices": [ { "index": 0, "message": { "role": "assistant", "content": "hello" }, "finish_reason": "${finishReason}" } ], "usage": { "prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4 } }`;
    t = await testServer(
      aiConfig(mock.url, {
        ai: { cache: { enabled: false }, prices: { 'b/gpt-mock': { input: 1, output: 2 } } },
        models: { priced: [{ provider: 'b', model: 'gpt-mock' }] },
      }),
    );
    const post = (model: string) =>
      fetch(`${t!.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      });
    mock.respond(() => ({ raw: body('stop') }));
    const plain = await post('chat');
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toMatch(/^application\/json/);
    expect(plain.headers.get('x-tasklane-provider')).toBe('a');
    expect(await plain.text()).toBe(body('stop'));

    const priced = await (await post('priced')).json();
    expect(priced.usage.cost).toBeGreaterThan(0);
    expect(priced.system_fingerprint).toBeUndefined();

    mock.respond(() => ({ raw: body('eos') }));
    const alias = await (await post('chat')).json();
    expect(alias.choices[0].finish_reason).toBe('stop');

    // The official client reads the forwarded body.
    mock.respond(() => ({ raw: body('stop') }));
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const c = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
    expect(c.choices[0]!.message.content).toBe('hello');
    expect(c.system_fingerprint).toBe('fp_up');
  });
});
