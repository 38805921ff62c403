/**
 * Two real tasklane server processes on one Redis share one budget and one token window: a key
 * over its budget on one is refused on the other, and concurrent calls on both never pass the
 * token limit by more than one request.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { startNode, writeConfig, type FleetNode } from '../../support/fleet.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../../support/redis.js';
import { tempDir } from '../../support/runtime.js';

const PREFIX = testPrefix('spend');
const tmp = tempDir();
let mock: MockProvider;
let nodes: FleetNode[] = [];

beforeAll(async () => {
  await requireRedis();
});
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  nodes = [];
  await mock?.close();
  await deleteKeys(PREFIX);
});
afterAll(() => tmp.remove());

async function fleet(name: string, keys: unknown[], usage: unknown): Promise<[string, string]> {
  mock = await startMockProvider({ chunkDelayMs: 0 });
  mock.respond({ usage: usage as never });
  const config = {
    server: { port: 0, apiKeys: keys },
    data: tmp.dir,
    log: { level: 'warn' },
    store: { engine: 'redis', url: REDIS_URL, prefix: `${PREFIX}:${name}` },
    providers: { a: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k-a'], models: ['gpt-mock'] } },
    models: { chat: [{ provider: 'a', model: 'gpt-mock' }] },
    ai: { prices: { 'a/gpt-mock': { input: 2, output: 8 } } },
    jobs: { worker: false },
  };
  const path = writeConfig(tmp.dir, name, config as never);
  nodes = await Promise.all([startNode(`${name}-1`, path), startNode(`${name}-2`, path)]);
  return [nodes[0]!.url, nodes[1]!.url];
}

const chat = (url: string, key: string, body: Record<string, unknown> = {}) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], ...body }),
  });

describe('a fleet on one Redis', () => {
  it('shares one budget: a key past it on one server is refused on the other, before any provider call', async () => {
    const [a, b] = await fleet('budget', [{ key: 'alice-key', name: 'alice', budget: { usdPerDay: 0.01 } }], {
      prompt_tokens: 1000,
      completion_tokens: 500,
      total_tokens: 1500,
    });
    // 0.006 per call: one on each server, then both see 0.012.
    expect((await chat(a, 'alice-key')).status).toBe(200);
    expect((await chat(b, 'alice-key')).status).toBe(200);
    const calls = mock.calls.length;
    for (const url of [a, b]) {
      const res = await chat(url, 'alice-key');
      expect(res.status).toBe(429);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('TL_ERR_AI_BUDGET_EXCEEDED');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(mock.calls.length).toBe(calls);
    const spend = (await (await fetch(`${b}/v1/admin/spend`, { headers: { authorization: 'Bearer alice-key' } })).json()) as {
      rows: Array<{ scope: string; name: string; day: { usd: number; requests: number } }>;
    };
    expect(spend.rows.find((r) => r.scope === 'key' && r.name === 'alice')?.day).toMatchObject({ usd: 0.012, requests: 2 });
  });

  it('shares one token window: concurrent calls on both servers never pass tokensPerMinute by more than one request', async () => {
    const [a, b] = await fleet('tpm', [{ key: 'erin-key', name: 'erin', limits: { tokensPerMinute: 1_000 } }], {
      prompt_tokens: 1,
      completion_tokens: 100,
      total_tokens: 101,
    });
    // One minute window for the whole burst (the servers take seconds to start).
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 5_000) await new Promise((r) => setTimeout(r, left + 50));
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        chat(i % 2 ? a : b, 'erin-key', { max_tokens: 100, messages: [{ role: 'user', content: `n${i}` }] }),
      ),
    );
    const ok = answers.filter((r) => r.status === 200).length;
    const refused = answers.filter((r) => r.status === 429).length;
    expect(ok + refused).toBe(30);
    // Reservations of 101: 9 fit in 1000, at most one more.
    expect(ok).toBeGreaterThanOrEqual(9);
    expect(ok * 101).toBeLessThanOrEqual(1_000 + 101);
    expect(mock.calls.length).toBe(ok);
  });
});
