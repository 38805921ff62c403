import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { aiTwiceLoop, aiTwiceThread } from '../../fixtures/tasks/ai-cost.js';
import { waitFor } from '../../jobs/helpers.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';
import { runCli } from '../../cli/cli-process.js';

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>> | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
});

const USAGE = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 };
const PRICE = { input: 2, output: 8 };
const COST = (1000 * 2 + 500 * 8) / 1_000_000; // 0.006

async function gateway(keys: unknown[], usage: unknown = USAGE) {
  mock = await startMockProvider({ chunkDelayMs: 0 });
  mock.respond({ usage: usage as never });
  t = await testServer({
    server: { apiKeys: keys },
    providers: { a: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k-a'], models: ['gpt-mock'] } },
    models: { chat: [{ provider: 'a', model: 'gpt-mock' }] },
    ai: { prices: { 'a/gpt-mock': PRICE } },
    lanes: { jobs: { placement: 'loop', concurrency: 2 } },
  } as never);
  return t.url;
}

const chat = (url: string, key: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], ...body }),
  });

/** Waits out the last seconds of a UTC minute, so a test of one minute's window stays in one window. */
async function awayFromMinuteEnd(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 8_000) await new Promise((r) => setTimeout(r, left + 50));
}

describe('budgets per client key', () => {
  it('refuses a key past usdPerDay before any provider call: 429 TL_ERR_AI_BUDGET_EXCEEDED naming the budget and the reset, with Retry-After', async () => {
    const url = await gateway([
      { key: 'alice-key', name: 'alice', tenant: 'acme', budget: { usdPerDay: 0.01 } },
      { key: 'bob-key', name: 'bob' },
    ]);
    // 0 then 0.006 spent: both under 0.01; the third finds 0.012.
    for (let i = 0; i < 2; i++) expect((await chat(url, 'alice-key')).status).toBe(200);
    const calls = mock.calls.length;
    const refused = await chat(url, 'alice-key');
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('TL_ERR_AI_BUDGET_EXCEEDED');
    const midnight = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1));
    expect(body.error.message).toContain('usdPerDay');
    expect(body.error.message).toContain(midnight.toISOString());
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(Math.abs(retryAfter - (midnight.getTime() - Date.now()) / 1000)).toBeLessThan(5);
    expect(mock.calls.length).toBe(calls);
    // Another key is not touched.
    expect((await chat(url, 'bob-key')).status).toBe(200);

    const spend = (await (await fetch(`${url}/v1/admin/spend`, { headers: { authorization: 'Bearer alice-key' } })).json()) as {
      rows: Array<{ scope: string; name: string; day: { usd: number; requests: number; tokens: number } }>;
      budgets: Array<{ key: string }>;
    };
    const row = (scope: string, name: string) => spend.rows.find((r) => r.scope === scope && r.name === name);
    expect(row('key', 'alice')?.day).toEqual({ usd: 2 * COST, tokens: 3000, requests: 2 });
    expect(row('tenant', 'acme')?.day.usd).toBe(2 * COST);
    expect(row('key', 'bob')?.day.usd).toBe(COST);
    expect(row('provider', 'a')?.day.usd).toBeCloseTo(3 * COST, 15);
    expect(spend.budgets).toEqual([{ key: 'alice', budget: { usdPerDay: 0.01 } }]);

    // The CLI prints the same report.
    const cli = await runCli(['spend', '--url', url, '--key', 'alice-key']);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/key\s+alice\s+\$0\.012000/);
    expect(cli.stdout).toContain('$0.01/day');
  });

  it('refuses a key past usdPerMonth, and keeps the spend of the key that made a job on that job (loop and thread lanes)', async () => {
    const url = await gateway([{ key: 'carol-key', name: 'carol', budget: { usdPerMonth: 0.05 } }]);
    t!.runtime.jobs.register(aiTwiceLoop);
    t!.runtime.jobs.register(aiTwiceThread);
    const ids: string[] = [];
    for (const task of ['test.ai-twice-loop', 'test.ai-twice-thread']) {
      const res = await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer carol-key' },
        body: JSON.stringify({ task, input: { model: 'chat' } }),
      });
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: string }).id);
    }
    for (const id of ids) {
      expect((await waitFor(t!.runtime, id, ['succeeded', 'dead'])).state).toBe('succeeded');
      const job = (await (await fetch(`${url}/v1/jobs/${id}`, { headers: { authorization: 'Bearer carol-key' } })).json()) as {
        cost: { usd: number };
        result: { costs: number[] };
      };
      expect(job.cost.usd).toBe(2 * COST);
      expect(job.result.costs).toEqual([COST, COST]);
    }
    const costs = (await (
      await fetch(`${url}/v1/admin/spend/jobs?ids=${ids.join(',')},nope`, { headers: { authorization: 'Bearer carol-key' } })
    ).json()) as {
      jobs: Record<string, { usd: number }>;
    };
    expect(Object.keys(costs.jobs).sort()).toEqual([...ids].sort());
    // 4 calls from jobs charged to carol (0.024) + 4 more = 0.048 < 0.05; the 9th finds 0.054.
    for (let i = 0; i < 5; i++) expect((await chat(url, 'carol-key')).status).toBe(200);
    const refused = await chat(url, 'carol-key');
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('usdPerMonth');
  });
});

describe('token limits per client key (limits.tokensPerMinute)', () => {
  it('reserves from max_tokens and settles from usage: calls that use less than they reserved leave room', async () => {
    await awayFromMinuteEnd();
    // Each call reserves 1 (prompt estimate) + 501 and uses 101: without settling, the third would not fit in 1000.
    const url = await gateway([{ key: 'dan-key', name: 'dan', limits: { tokensPerMinute: 1_000 } }], {
      prompt_tokens: 1,
      completion_tokens: 100,
      total_tokens: 101,
    });
    for (let i = 0; i < 5; i++) expect((await chat(url, 'dan-key', { max_tokens: 501 })).status).toBe(200);
  });

  it('never lets concurrent calls pass the limit by more than one request', async () => {
    await awayFromMinuteEnd();
    const url = await gateway([{ key: 'erin-key', name: 'erin', limits: { tokensPerMinute: 1_000 } }], {
      prompt_tokens: 1,
      completion_tokens: 100,
      total_tokens: 101,
    });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'erin-key', maxRetries: 0 });
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        client.chat.completions.create({ model: 'chat', max_tokens: 100, messages: [{ role: 'user', content: `n${i}` }] }),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    const used = ok.reduce((n, r) => n + (r as PromiseFulfilledResult<OpenAI.ChatCompletion>).value.usage!.total_tokens, 0);
    expect(ok.length).toBeGreaterThan(0);
    expect(used).toBeLessThanOrEqual(1_000 + 101);
    // Reservations of 101 each: 9 fit in 1000 (plus at most one more).
    expect(ok.length).toBeGreaterThanOrEqual(9);
    expect(ok.length).toBeLessThanOrEqual(10);
    expect(mock.calls.length).toBe(ok.length);
    for (const r of refused) {
      const e = r.reason as InstanceType<typeof OpenAI.APIError>;
      expect(e.status).toBe(429);
      expect(e.code).toBe('TL_ERR_AI_BUDGET_EXCEEDED');
      const headers = e.headers as unknown as Headers;
      expect(Number(headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });
});

describe('request limits per client key (limits.requestsPerMinute)', () => {
  it('gives a key its own bucket instead of server.rateLimit', async () => {
    mock = await startMockProvider({ chunkDelayMs: 0 });
    t = await testServer({
      server: {
        apiKeys: [
          { key: 'slow-key', name: 'slow', limits: { requestsPerMinute: 3 } },
          { key: 'open-key', name: 'open' },
        ],
        rateLimit: { perSecond: 100, burst: 100 },
      },
      providers: { a: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k-a'] } },
      models: { chat: [{ provider: 'a', model: 'gpt-mock' }] },
    } as never);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await chat(t.url, 'slow-key')).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    for (let i = 0; i < 5; i++) expect((await chat(t.url, 'open-key')).status).toBe(200);
  });
});

describe('budgets and a configuration reload', () => {
  it('applies a new budget to the next call without a restart', async () => {
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { createRuntime, listen } = await import('../../../src/index.js');
    const { tempDir } = await import('../../support/runtime.js');
    mock = await startMockProvider({ chunkDelayMs: 0 });
    mock.respond({ usage: USAGE as never });
    const tmp = tempDir();
    const file = join(tmp.dir, 'tasklane.config.json');
    const save = (usdPerDay: number) =>
      writeFileSync(
        file,
        JSON.stringify({
          data: join(tmp.dir, 'data'),
          log: { level: 'warn' },
          server: { port: 0, apiKeys: [{ key: 'frank-key', name: 'frank', budget: { usdPerDay } }] },
          providers: { a: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k-a'], models: ['gpt-mock'] } },
          models: { chat: [{ provider: 'a', model: 'gpt-mock' }] },
          ai: { prices: { 'a/gpt-mock': PRICE } },
        }),
      );
    save(0.005);
    const runtime = await createRuntime({ file, env: {}, dotenv: false, cwd: tmp.dir });
    try {
      const server = await listen(runtime);
      expect((await chat(server.url, 'frank-key')).status).toBe(200);
      expect((await chat(server.url, 'frank-key')).status).toBe(429);
      save(1);
      const res = await fetch(`${server.url}/v1/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer frank-key' } });
      expect(res.status).toBe(200);
      expect((await chat(server.url, 'frank-key')).status).toBe(200);
      const spend = (await (await fetch(`${server.url}/v1/admin/spend`, { headers: { authorization: 'Bearer frank-key' } })).json()) as {
        budgets: unknown[];
      };
      expect(spend.budgets).toEqual([{ key: 'frank', budget: { usdPerDay: 1 } }]);
    } finally {
      await runtime.close();
      tmp.remove();
    }
  });
});
