import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from './mock-provider.js';

/** The mock itself, where a plain HTTP client shows what it sends. */
let mock: MockProvider | undefined;
afterEach(async () => {
  await mock?.close();
});

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer k1', ...headers },
    body: JSON.stringify(body),
  });

describe('mock provider', () => {
  it('echoes, records the call, and reset() forgets calls and rules', async () => {
    mock = await startMockProvider();
    const res = await post(`${mock.url}/v1/chat/completions`, { model: 'gpt-mock', messages: [{ role: 'user', content: 'ping' }] });
    expect((await res.json()).choices[0].message.content).toBe('echo: ping');
    expect(mock.calls[0]).toMatchObject({ path: '/v1/chat/completions', key: 'k1', model: 'gpt-mock', stream: false, flavor: 'openai' });
    mock.faultForKey('k1', '503-always');
    expect((await post(`${mock.url}/v1/chat/completions`, { model: 'gpt-mock', messages: [] })).status).toBe(503);
    mock.reset();
    expect(mock.calls).toHaveLength(0);
    expect((await post(`${mock.url}/v1/chat/completions`, { model: 'gpt-mock', messages: [] })).status).toBe(200);
  });

  it('the x-mock-fault header wins over the model suffix; an unknown fault is a loud 400', async () => {
    mock = await startMockProvider({ retryAfterSeconds: 7 });
    const r = await post(
      `${mock.url}/v1/chat/completions`,
      { model: 'gpt-mock@503-always', messages: [] },
      { 'x-mock-fault': '429-always' },
    );
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('7');
    const bad = await post(`${mock.url}/v1/chat/completions`, { model: 'gpt-mock@nope', messages: [] });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('unknown fault');
    expect(() => mock!.faultForKey('k1', 'typo')).toThrow(/unknown fault/);
  });

  it('hands out a list of results in order, the last repeating, and closes open sockets on close()', async () => {
    mock = await startMockProvider();
    mock.respond([{ text: 'one' }, { text: 'two' }]);
    const texts: string[] = [];
    for (let i = 0; i < 3; i++)
      texts.push((await (await post(`${mock.url}/v1/chat/completions`, { model: 'm', messages: [] })).json()).choices[0].message.content);
    expect(texts).toEqual(['one', 'two', 'two']);
    const hanging = post(`${mock.url}/v1/chat/completions`, { model: 'm@hang', messages: [] }).catch((e: Error) => e);
    const call = await mock.waitForCall((c) => c.fault === 'hang');
    await mock.close();
    expect(await hanging).toBeInstanceOf(Error);
    expect(call.aborted).toBe(true);
    expect(mock.openConnections).toBe(0);
  });
});
