import { afterEach, describe, expect, it } from 'vitest';
import { pipeline } from '../../fixtures/jobs/workflow-tasks.js';
import { waitFor } from '../../jobs/helpers.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

const COST = (1000 * 2 + 500 * 8) / 1_000_000;

describe('cost on the job record, per step', () => {
  it('keeps each step’s AI cost; a retry that replays journaled calls pays nothing again', async () => {
    mock = await startMockProvider({ chunkDelayMs: 0 });
    mock.respond({ usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 } });
    t = await testServer({
      server: { apiKeys: [{ key: 'k', name: 'wf', tenant: 'acme' }] },
      providers: { a: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k-a'], models: ['gpt-mock'] } },
      models: { chat: [{ provider: 'a', model: 'gpt-mock' }] },
      ai: { prices: { 'a/gpt-mock': { input: 2, output: 8 } } },
      lanes: { jobs: { placement: 'loop', concurrency: 2 } },
    } as never);
    t.runtime.jobs.register(pipeline);
    const res = await fetch(`${t.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: JSON.stringify({ task: 'wf.pipeline', input: { tag: 'cost', failFirst: true } }),
    });
    const { id } = (await res.json()) as { id: string };
    const done = await waitFor(t.runtime, id, ['succeeded', 'dead']);
    expect(done.state).toBe('succeeded');
    expect(done.attempt).toBe(2);
    // Five upstream calls in all: the second attempt replayed them from the journal.
    expect(mock.calls.length).toBe(5);
    const job = (await (await fetch(`${t.url}/v1/jobs/${id}`, { headers: { authorization: 'Bearer k' } })).json()) as {
      cost: { usd: number; steps: Record<string, number> };
    };
    expect(job.cost.usd).toBeCloseTo(5 * COST, 15);
    expect(job.cost.steps).toEqual({ a: COST, b: expect.closeTo(3 * COST, 15), c: COST });
    const spend = (await (await fetch(`${t.url}/v1/admin/spend`, { headers: { authorization: 'Bearer k' } })).json()) as {
      rows: Array<{ scope: string; name: string; day: { requests: number } }>;
    };
    expect(spend.rows.find((r) => r.scope === 'tenant' && r.name === 'acme')?.day.requests).toBe(5);
  });
});
