/** The dashboard's spend panel and the cost column of the jobs table, in Chromium. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aiTwiceLoop } from '../../fixtures/tasks/ai-cost.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';
import { axeViolations, launch, screenshot, until, type Browser } from './browser.js';

const ADMIN = 'tl-spend-admin-5c1e';
const TEAM = 'tl-spend-team-0b7d';
const COST = (1000 * 2 + 500 * 8) / 1_000_000; // 0.006 a call

let mock: MockProvider;
let t: Awaited<ReturnType<typeof testServer>>;
let browser: Browser;
let jobId: string;

beforeAll(async () => {
  mock = await startMockProvider({ chunkDelayMs: 0 });
  mock.respond({ usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 } });
  t = await testServer({
    server: {
      apiKeys: [
        { key: ADMIN, name: 'ops', scopes: ['admin'] },
        { key: TEAM, name: 'team-a', tenant: 'acme', scopes: ['ai', 'jobs:read', 'jobs:write'], budget: { usdPerDay: 0.01 } },
      ],
    },
    providers: { a: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['k-a'], models: ['gpt-mock'] } },
    models: { chat: [{ provider: 'a', model: 'gpt-mock' }] },
    ai: { prices: { 'a/gpt-mock': { input: 2, output: 8 } } },
    lanes: { jobs: { placement: 'loop', concurrency: 2 } },
  } as never);
  t.runtime.jobs.register(aiTwiceLoop);
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEAM}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: `q${i}` }] }),
    });
    expect(res.status).toBe(200);
  }
  const res = await fetch(`${t.url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ task: 'test.ai-twice-loop', input: { model: 'chat' } }),
  });
  jobId = ((await res.json()) as { id: string }).id;
  await until(
    async () => (await t.runtime.jobs.get(jobId))?.state,
    (s) => s === 'succeeded',
  );
  browser = await launch();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await mock?.close();
});

describe('dashboard: spend and job cost', () => {
  it('shows spend per client key, tenant and provider with the budget, and a cost column on jobs', async () => {
    const p = await browser.open(`${t.url}/dashboard`);
    await p.getByLabel('Client key').fill(ADMIN);
    await p.getByRole('button', { name: 'Use key' }).click();
    const table = p.locator('#spend-table');
    await until(
      () => table.isVisible(),
      (v) => v,
    );
    const row = (scope: string, name: string) => p.locator(`#spend-table tr[data-scope="${scope}"][data-name="${name}"]`);
    // team-a: two calls (0.012) past its 0.01 a day; ops: the job's two calls.
    await until(
      () => row('key', 'team-a').locator('td.day').textContent(),
      (s) => s === '$0.0120',
    );
    expect(await row('key', 'team-a').locator('td.budget').textContent()).toBe('$0.0120 of $0.0100 a day');
    expect(await row('key', 'team-a').getAttribute('class')).toBe('over-budget');
    expect(await row('tenant', 'acme').locator('td.month').textContent()).toBe('$0.0120');
    expect(await row('key', 'ops').locator('td.day').textContent()).toBe('$0.0120');
    expect(await row('provider', 'a').locator('td.requests').textContent()).toBe('4');
    const cost = p.locator('#jobs-body tr', { has: p.locator(`button[title="${jobId}"]`) }).locator('td.cost');
    await until(
      () => cost.textContent(),
      (s) => s === `$${(2 * COST).toPrecision(3)}`,
    );
    expect(await cost.getAttribute('title')).toBe(`$${2 * COST}`);
    // No key material anywhere on the page.
    const html = await p.content();
    expect(html).not.toContain(TEAM);
    expect(await axeViolations(p)).toEqual([]);
    await screenshot(p, 'dashboard-spend.png');
  });

  it('tells a key without the admin scope that spend is for admins, and still shows its jobs', async () => {
    const p = await browser.open(`${t.url}/dashboard`);
    await p.getByLabel('Client key').fill(TEAM);
    await p.getByRole('button', { name: 'Use key' }).click();
    await until(
      () => p.locator('#spend-note').textContent(),
      (s) => s === 'Spend needs a key with the admin scope.',
    );
    expect(await p.locator('#spend-table').isVisible()).toBe(false);
  });
});
