import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTask, type ConfigInput } from '../../../src/index.js';
import { aiConfig } from '../../ai/fixtures.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer, type TestRuntime } from '../../support/runtime.js';
import { axeViolations, launch, OUTPUT, poll, screenshot, until, type Browser } from './browser.js';

const ADMIN = 'tl-dash-admin-key-51c7e0';
const READER = 'tl-dash-reader-key-0a9d33';
/** Keys of the mock provider and of the unreachable one: never on the page. */
const SECRETS = ['key-a0', 'key-a1', 'key-b0', 'sk-down-provider-key-9f8e7d', 'sk-flaky-provider-key-1c2b3a'];

type Server = TestRuntime & { url: string };
let t: Server | undefined;
let mock: MockProvider | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
/** Console errors and warnings (a CSP refusal shows up here) and uncaught exceptions. */
const pageErrors: string[] = [];
const ids: { progress: string[]; other: string[]; dead?: string; converge?: string } = { progress: [], other: [] };

/** A port nothing listens on: calls to it fail at once with ECONNREFUSED. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** The mock providers plus one that is down, with a breaker that opens after two failures. */
async function config(resetMs: number): Promise<ConfigInput> {
  const base = aiConfig(mock!.url, { ai: { breaker: { failures: 2, resetMs }, maxAttempts: 2 } });
  const port = await closedPort();
  const url = `http://127.0.0.1:${port}/v1`;
  return {
    ...base,
    server: {
      apiKeys: [
        { key: ADMIN, scopes: ['admin'] },
        { key: READER, scopes: ['jobs:read'] },
      ],
    },
    providers: {
      ...base.providers,
      down: { type: 'openai-compatible', baseURL: url, apiKeys: ['sk-down-provider-key-9f8e7d'] },
      flaky: { type: 'openai-compatible', baseURL: url, apiKeys: ['sk-flaky-provider-key-1c2b3a'] },
    },
    models: {
      ...base.models,
      gone: [{ provider: 'down', model: 'm' }],
      // The first target can not be reached; the fallback answers.
      fallback: [
        { provider: 'flaky', model: 'm' },
        { provider: 'a', model: 'gpt-mock' },
      ],
    },
  } as ConfigInput;
}

async function gateway(url: string, model: string, content = 'hello'): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });
}

async function login(p: Page, key = ADMIN): Promise<void> {
  await p.getByLabel('Client key').fill(key);
  await p.getByRole('button', { name: 'Use key' }).click();
  await poll(() => p.getByRole('status', { name: 'Dashboard status' }).textContent()).toMatch(/^Updated /);
}

beforeAll(async () => {
  mock = await startMockProvider();
  t = await testServer(await config(600_000));
  const jobs = t.runtime.jobs;
  jobs.register(
    defineTask({
      name: 'test.converge',
      lane: 'demo',
      async run(input: { iterations: number; ms?: number }, ctx) {
        let energy = 10;
        for (let iteration = 1; iteration <= input.iterations; iteration++) {
          energy = -2 + 12 * Math.exp(-iteration / 4);
          ctx.progress({ iteration, energy, residual: Math.exp(-iteration) });
          await sleep(input.ms ?? 2);
        }
        return { energy, iterations: input.iterations };
      },
    }),
  );
  jobs.register(
    defineTask({
      name: 'test.fail',
      lane: 'demo',
      maxAttempts: 1,
      run() {
        throw new Error('this task always fails');
      },
    }),
  );
  for (let i = 0; i < 27; i++) ids.progress.push((await jobs.enqueue('demo.progress', { steps: 1, ms: 0 })).id);
  ids.dead = (await jobs.enqueue('test.fail', { reason: 'to be dead' })).id;
  ids.converge = (await jobs.enqueue('test.converge', { iterations: 30 })).id;
  // The gateway: one answer from the mock, then two calls to the provider that is down (its breaker opens).
  expect((await gateway(t.url, 'chat')).status).toBe(200);
  for (let i = 0; i < 2; i++) expect((await gateway(t.url, 'gone')).status).toBeGreaterThanOrEqual(500);
  expect((await gateway(t.url, 'fallback')).status).toBe(200);
  await until(
    async () => (await jobs.get(ids.converge!))?.state,
    (s) => s === 'succeeded',
  );
  await until(
    async () => (await jobs.list({ state: 'succeeded', limit: 100 })).jobs.length,
    (n) => n === 28,
  );
  await until(
    async () => (await jobs.get(ids.dead!))?.state,
    (s) => s === 'dead',
  );
  browser = await launch();
  page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') pageErrors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
  await page.goto(`${t.url}/dashboard`);
  await page.getByLabel('Client key').fill(ADMIN);
  await page.getByRole('button', { name: 'Use key' }).click();
  await until(
    () => page!.getByRole('status', { name: 'Dashboard status' }).textContent(),
    (s) => /^Updated /.test(s ?? ''),
  );
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await mock?.close();
});

describe('the dashboard in Chromium', () => {
  it('filters by state and task with counts on the tabs, and pages through the list', async () => {
    const p = page!;
    const tabs = p.getByRole('group', { name: 'Filter by state' });
    await poll(() => tabs.getByRole('button', { name: 'Succeeded 28', exact: true }).count()).toBe(1);
    expect(await tabs.getByRole('button', { name: 'Dead 1', exact: true }).count()).toBe(1);
    expect(await tabs.getByRole('button', { name: 'All 29', exact: true }).count()).toBe(1);
    expect(await tabs.getByRole('button', { name: 'Running 0', exact: true }).count()).toBe(1);

    // 29 jobs, 25 a page: two pages, newest first, no job on both.
    const rows = p.locator('#jobs-body tr');
    await poll(() => rows.count()).toBe(25);
    const first = await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.jobId!));
    expect(await p.getByRole('button', { name: 'Newer' }).isDisabled()).toBe(true);
    await p.getByRole('button', { name: 'Older' }).click();
    await poll(() => rows.count()).toBe(4);
    const second = await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.jobId!));
    expect(second.filter((id) => first.includes(id))).toEqual([]);
    expect(new Set([...first, ...second])).toEqual(new Set([...ids.progress, ids.dead!, ids.converge!]));
    expect(await p.locator('#page-label').textContent()).toBe('Page 2');
    expect(await p.getByRole('button', { name: 'Older' }).isDisabled()).toBe(true);
    await p.getByRole('button', { name: 'Newer' }).click();
    await poll(() => rows.count()).toBe(25);

    // The id column shows the random tail, which tells jobs made in the same millisecond apart.
    const shown = await p.locator('#jobs-body .job-link').allTextContents();
    expect(new Set(shown).size).toBe(shown.length);
    for (const text of shown) expect(text).toMatch(/^…[0-9a-f-]{8}$/);
    // Started, finished and duration of a finished job.
    const row = p.locator(`#jobs-body tr[data-job-id="${ids.converge}"]`);
    expect(await row.locator('td.started').textContent()).toMatch(/ago$/);
    expect(await row.locator('td.finished').textContent()).toMatch(/ago$/);
    expect(await row.locator('td.duration').textContent()).toMatch(/^\d+ ms$|^\d+\.\d s$/);

    await tabs.getByRole('button', { name: /^Dead/ }).click();
    await poll(() => rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.jobId))).toEqual([ids.dead]);
    expect(await tabs.getByRole('button', { name: /^Dead/ }).getAttribute('aria-pressed')).toBe('true');
    await tabs.getByRole('button', { name: /^All/ }).click();
    await p.getByLabel('Filter by task').selectOption('test.converge');
    await poll(() => rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.jobId))).toEqual([ids.converge]);
    // The tabs count that task's jobs (the SQLite engine keeps counts per task).
    await poll(() => tabs.getByRole('button', { name: 'All 1', exact: true }).count()).toBe(1);
    expect(await tabs.getByRole('button', { name: 'Succeeded 1', exact: true }).count()).toBe(1);
    expect(await tabs.getByRole('button', { name: 'Dead 0', exact: true }).count()).toBe(1);
    await p.getByLabel('Filter by task').selectOption('');
    await poll(() => tabs.getByRole('button', { name: 'All 29', exact: true }).count()).toBe(1);
    await poll(() => rows.count()).toBe(25);
  }, 30_000);

  it('finds a job by its id or its tail, and says when none has it', async () => {
    const p = page!;
    const oldest = ids.progress[0]!; // on page 2: not in the table
    await p.getByLabel('Find job').fill(oldest);
    await p.getByRole('button', { name: 'Find' }).click();
    await poll(() => p.locator('#detail-facts dd[data-fact="job"]').textContent()).toBe(oldest);
    await poll(() => p.getByLabel('Job input').textContent()).toBe(JSON.stringify({ steps: 1, ms: 0 }, null, 2));

    const visible = (await p.locator('#jobs-body tr').first().getAttribute('data-job-id'))!;
    await p.getByLabel('Find job').fill(visible.slice(-8));
    await p.getByRole('button', { name: 'Find' }).click();
    await poll(() => p.locator('#detail-facts dd[data-fact="job"]').textContent()).toBe(visible);

    await p.getByLabel('Find job').fill('01900000-0000-7000-8000-000000000000');
    await p.getByRole('button', { name: 'Find' }).click();
    await poll(() => p.locator('#search-result').textContent()).toBe('No job has the id 01900000-0000-7000-8000-000000000000');
  });

  it('shows a job with input and result pretty-printed, its event log with relative times, and its progress chart', async () => {
    const p = page!;
    await p.locator(`#jobs-body tr[data-job-id="${ids.converge}"] .job-link`).click();
    await poll(() => p.locator('#detail-facts dd[data-fact="job"]').textContent()).toBe(ids.converge);
    const record = (await t!.runtime.jobs.get(ids.converge!))!;
    await poll(() => p.getByLabel('Job input').textContent()).toBe(JSON.stringify({ iterations: 30 }, null, 2));
    await poll(() => p.getByLabel('Job result').textContent()).toBe(JSON.stringify(record.result, null, 2));

    const log = p.getByRole('list', { name: 'Event log' });
    await poll(() => log.locator('li[data-type="succeeded"]').count()).toBe(1);
    const items = await log.locator('li').evaluateAll((lis) =>
      lis.map((li) => ({
        type: (li as HTMLElement).dataset.type,
        at: li.querySelector('time')!.textContent,
        data: li.querySelector('.data')!.textContent,
      })),
    );
    expect(items[0]).toMatchObject({ type: 'enqueued' });
    for (const item of items) expect(item.at).toMatch(/^\+\d+\.\d{3} s$/);
    const progress = items.filter((i) => i.type === 'progress');
    expect(progress).toHaveLength(30);
    expect(JSON.parse(progress[0]!.data!)).toMatchObject({ iteration: 1 });
    expect(progress[0]!.data).toMatch(/^\{ "iteration": 1, "energy": /);

    // The chart plots energy (the default series) by iteration: one point per progress event.
    const chart = p.locator('#progress-chart');
    await poll(() => chart.getAttribute('data-points')).toBe('30');
    expect(await chart.getAttribute('data-series')).toBe('energy');
    expect(await p.locator('#progress-x').textContent()).toBe('iteration');
    expect(await drawnPixels(p, '#progress-chart')).toBeGreaterThan(50);
    await p.getByLabel('Progress series', { exact: true }).selectOption('residual');
    await poll(() => chart.getAttribute('data-series')).toBe('residual');
    await p.getByLabel('Progress series', { exact: true }).selectOption('energy');
    await screenshot(p, 'dashboard-detail.png');
  });

  it("plots a running job's progress series live, point by point", async () => {
    const p = page!;
    const job = await t!.runtime.jobs.enqueue('test.converge', { iterations: 40, ms: 60 });
    await p.getByLabel('Find job').fill(job.id);
    await p.getByRole('button', { name: 'Find' }).click();
    await poll(() => p.locator('#detail-facts dd[data-fact="job"]').textContent()).toBe(job.id);
    await p.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { chartPoints: number[] }).chartPoints = seen;
      const box = document.getElementById('progress-chart')!;
      new MutationObserver(() => seen.push(Number(box.dataset.points))).observe(box, {
        attributes: true,
        attributeFilter: ['data-points'],
      });
    });
    await poll(() => p.locator('#progress-chart').getAttribute('data-points'), 15_000).toBe('40');
    const seen = await p.evaluate(() => (window as unknown as { chartPoints: number[] }).chartPoints);
    // Drawn while the job ran: several sizes between the first point and the last.
    expect(new Set(seen.filter((n) => n > 0 && n < 40)).size).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
    await poll(async () => (await t!.runtime.jobs.get(job.id))?.state, 10_000).toBe('succeeded');
  }, 30_000);

  it('cancels a running job and retries a dead one from the detail', async () => {
    const p = page!;
    const slow = await t!.runtime.jobs.enqueue('demo.progress', { steps: 100, ms: 100 });
    await p.getByLabel('Find job').fill(slow.id);
    await p.getByRole('button', { name: 'Find' }).click();
    await poll(() => p.locator('#detail-facts dd[data-fact="state"]').textContent()).toBe('running');
    await p.getByRole('button', { name: 'Cancel job' }).click();
    await poll(() => p.locator('#detail-facts dd[data-fact="state"]').textContent()).toBe('cancelled');
    expect(await p.getByRole('button', { name: 'Cancel job' }).isDisabled()).toBe(true);
    await poll(async () => (await t!.runtime.jobs.get(slow.id))?.state).toBe('cancelled');

    await p.getByLabel('Find job').fill(ids.dead!);
    await p.getByRole('button', { name: 'Find' }).click();
    await poll(() => p.locator('#detail-facts dd[data-fact="state"]').textContent()).toBe('dead');
    expect(await p.locator('#detail-facts dd[data-fact="error"]').textContent()).toContain('this task always fails');
    await p.getByRole('button', { name: 'Retry job' }).click();
    // It runs again (and fails again): the log follows the new attempt to its second "dead".
    await poll(() => p.getByRole('list', { name: 'Event log' }).locator('li[data-type="dead"]').count(), 15_000).toBe(2);
    await poll(() => p.locator('#detail-facts dd[data-fact="state"]').textContent()).toBe('dead');
  }, 30_000);

  it('logs the AI requests made through the gateway, with attempts and reasons, and never a key', async () => {
    const p = page!;
    const table = p.getByRole('table', { name: 'Recent AI requests, newest first' });
    await poll(() => table.locator('tbody tr').count()).toBe(4);
    const rows = await table
      .locator('tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => Object.fromEntries([...tr.children].map((c) => [(c as HTMLElement).dataset.label, c.textContent]))),
      );
    const ok = rows.find((r) => r.Route === 'chat')!;
    expect(ok).toMatchObject({ 'Served by': 'a/gpt-mock', Key: '#0', Attempts: '1', Outcome: 'ok' });
    // miss with the response cache on, bypass with it off (the default changes with the cache opt-in).
    expect(ok.Cache).toMatch(/^(miss|bypass)$/);
    expect(ok.Tokens).toMatch(/^\d+ \+ \d+$/);
    expect(ok.Latency).toMatch(/ms$|s$/);
    // Served by the fallback after the first target refused the connection: the failed attempt and its reason.
    const fallback = rows.find((r) => r.Route === 'fallback')!;
    expect(fallback).toMatchObject({ 'Served by': 'a/gpt-mock', Outcome: 'ok' });
    expect(fallback.Attempts).toMatch(/^2: flaky\/m #0: connect \(\d+ ms\)$/);
    const failed = rows.filter((r) => r.Route === 'gone');
    expect(failed).toHaveLength(2);
    // The first call tried the target twice (maxAttempts 2), connection refused each time.
    expect(failed[1]!.Attempts).toMatch(/^2: down\/m #0: connect \(\d+ ms\); down\/m #0: connect \(\d+ ms\)$/);
    expect(failed[1]!.Outcome).toMatch(/^TL_ERR_/);
    const html = await p.content();
    for (const key of [...SECRETS, ADMIN]) expect(html).not.toContain(key);
  });

  it('shows an open breaker as open and the keys behind it as not serving, never green', async () => {
    const p = page!;
    const down = p.locator('#provider-list li[data-provider="down"]');
    await poll(() => down.getAttribute('data-state')).toBe('open');
    expect(await down.locator('.badge').textContent()).toBe('breaker open');
    expect(await down.locator('.provider-text').textContent()).toMatch(/^breaker open on down\/m until \d\d:\d\d:\d\d UTC \(2 failures\)$/);
    const key = p.locator('#keys-body tr[data-provider="down"]');
    expect(await key.getAttribute('data-state')).toBe('blocked');
    expect(await key.locator('td[data-label="Health"]').textContent()).toBe('not serving: provider breaker open');
    expect(await key.locator('.health-ok').count()).toBe(0);
    expect(await p.locator('#breakers-body tr[data-target="down/m"]').getAttribute('data-state')).toBe('open');
    // A provider that refused a connection, hidden behind a fallback that answered, is unreachable
    // (the AI metrics saw the failed attempt) and its key is not green, though its breaker is closed.
    const flaky = p.locator('#provider-list li[data-provider="flaky"]');
    await poll(() => flaky.getAttribute('data-state')).toBe('unreachable');
    expect(await flaky.locator('.provider-text').textContent()).toMatch(/^unreachable: last call could not connect at /);
    expect(await p.locator('#keys-body tr[data-provider="flaky"]').getAttribute('data-state')).toBe('blocked');
    // The healthy provider and the key that answered are green.
    expect(await p.locator('#provider-list li[data-provider="a"]').getAttribute('data-state')).toBe('ok');
    expect(await p.locator('#keys-body tr[data-provider="a"][data-key="0"] td[data-label="Health"]').textContent()).toBe('ok');
  });

  it('draws the charts of the last minutes: loop delay, lane throughput, upstream latency per provider', async () => {
    const p = page!;
    for (const id of ['#chart-loop', '#chart-lanes', '#chart-latency']) {
      await poll(async () => Number(await p.locator(id).getAttribute('data-points')), 15_000).toBeGreaterThanOrEqual(2);
    }
    expect((await p.locator('#chart-lanes').getAttribute('data-series'))!.split(',')).toEqual(expect.arrayContaining(['ai', 'demo']));
    expect((await p.locator('#chart-latency').getAttribute('data-series'))!.split(',')).toContain('a');
    expect(await drawnPixels(p, '#chart-loop')).toBeGreaterThan(50);
    // At 1280 px every table fits its panel: no column hides behind a scroll bar.
    const clipped = await p.evaluate(() =>
      [...document.querySelectorAll('.table-wrap')]
        .filter((w) => w.scrollWidth > w.clientWidth + 1)
        .map((w) => `${w.closest('section')!.className}: ${w.scrollWidth} > ${w.clientWidth}`),
    );
    expect(clipped).toEqual([]);
    await screenshot(p, 'dashboard-desktop.png');
  }, 30_000);

  it('fits a 390 px phone without horizontal overflow, every panel readable', async () => {
    const phone = await browser!.open(`${t!.url}/dashboard`, { width: 390, height: 844 });
    try {
      await login(phone);
      await poll(() => phone.locator('#jobs-body tr').count()).toBe(25);
      await phone.locator(`#jobs-body tr[data-job-id="${ids.converge}"] .job-link`).click();
      await poll(() => phone.locator('#progress-chart').getAttribute('data-points')).toBe('30');
      await poll(() => phone.locator('#ai-log-body tr').count()).toBe(4);
      const widths = await phone.evaluate(() => ({
        doc: document.documentElement.scrollWidth,
        body: document.body.scrollWidth,
        view: window.innerWidth,
      }));
      expect(widths.view).toBe(390);
      expect(widths.doc).toBeLessThanOrEqual(390);
      expect(widths.body).toBeLessThanOrEqual(390);
      // Nothing sticks out of its panel: progress bars, key health and the charts stay inside.
      const outside = await phone.evaluate(() => {
        const bad: string[] = [];
        for (const panel of document.querySelectorAll('.panel')) {
          const box = panel.getBoundingClientRect();
          for (const node of panel.querySelectorAll('.bar, td, th, canvas, .provider, pre')) {
            const r = node.getBoundingClientRect();
            if (r.width === 0) continue;
            if (r.right > box.right + 1 || r.left < box.left - 1)
              bad.push(`${panel.className} ${node.tagName}.${(node as HTMLElement).className}`);
          }
        }
        return bad;
      });
      expect(outside).toEqual([]);
      await screenshot(phone, 'dashboard-390.png');
      // One picture per panel too: the full page is too tall to look at in one go.
      for (const panel of ['jobs', 'detail', 'charts', 'providers', 'ai-log', 'lanes']) {
        const box = (await phone.locator(`section.${panel}`).boundingBox())!;
        const clip = { x: box.x, y: box.y, width: box.width, height: Math.min(box.height, 1400) };
        await phone.screenshot({ path: join(OUTPUT, `dashboard-390-${panel}.png`), clip, fullPage: true });
      }
    } finally {
      await phone.close();
    }
  }, 30_000);

  it('has no serious or critical accessibility violations (axe-core)', async () => {
    const p = page!;
    await p.locator(`#jobs-body tr[data-job-id="${ids.converge}"] .job-link`).click();
    await poll(() => p.locator('#progress-chart').getAttribute('data-points')).toBe('30');
    await p.locator('details.submit summary').click();
    expect(await axeViolations(p)).toEqual([]);
  }, 30_000);

  it('shows a jobs:read key everything but the AI request log, and says why', async () => {
    const reader = await browser!.open(`${t!.url}/dashboard`);
    try {
      await login(reader, READER);
      await poll(() => reader.locator('#ai-log-note').textContent()).toBe('The AI request log needs a key with the admin scope.');
      expect(await reader.locator('#ai-log-table').isHidden()).toBe(true);
      expect(await reader.getByRole('heading', { name: 'Key required' }).isVisible()).toBe(false);
      // Jobs belong to the key that made them: this key made none, so it lists none (admin sees all).
      await poll(() => reader.locator('#jobs-empty').isVisible()).toBe(true);
      expect(await reader.locator('#jobs-body tr').count()).toBe(0);
      expect(await reader.locator('#provider-list li[data-provider="down"]').getAttribute('data-state')).toBe('open');
    } finally {
      await reader.close();
    }
  });

  it('ran without a script error or a Content-Security-Policy refusal', () => {
    // Expected noise only: the data calls refused before the key was entered (401) and the search
    // for an id no job has (404); Chromium logs every failed fetch.
    expect(pageErrors.filter((e) => !/status of (401|404) /.test(e))).toEqual([]);
  });

  it('serves a favicon and uPlot from the package, not from a CDN', async () => {
    const html = await (await fetch(`${t!.url}/dashboard`)).text();
    expect(html).toContain('rel="icon" href="/dashboard/favicon.svg"');
    expect(html).not.toMatch(/https?:\/\//);
    const icon = await fetch(`${t!.url}/dashboard/favicon.svg`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toContain('image/svg+xml');
    const uplot = await fetch(`${t!.url}/dashboard/vendor/uplot.js`);
    expect(uplot.status).toBe(200);
    expect(await uplot.text()).toContain('export { uPlot as default }');
    expect((await fetch(`${t!.url}/dashboard/vendor/..%2F..%2Fpackage.json`)).status).toBe(404);
  });
});

describe('an open breaker whose retry time has passed', () => {
  it('reads "probe on next call" on the page, and the key is still not green', async () => {
    const s = await testServer(await config(300));
    const b = await launch();
    try {
      for (let i = 0; i < 2; i++) expect((await gateway(s.url, 'gone')).status).toBeGreaterThanOrEqual(500);
      await sleep(350);
      const p = await b.open(`${s.url}/dashboard`);
      await login(p);
      const down = p.locator('#provider-list li[data-provider="down"]');
      await poll(() => down.getAttribute('data-state')).toBe('probe');
      expect(await down.locator('.badge').textContent()).toBe('probe on next call');
      expect(await p.locator('#breakers-body tr[data-target="down/m"] td[data-label="State"]').textContent()).toBe(
        'open: probe on next call',
      );
      expect(await p.locator('#breakers-body tr[data-target="down/m"] td[data-label="Retry at"]').textContent()).toMatch(/^passed \(/);
      expect(await p.locator('#keys-body tr[data-provider="down"]').getAttribute('data-state')).toBe('blocked');
    } finally {
      await b.close();
      await s.close();
    }
  }, 30_000);
});

/** Pixels of a chart's canvas in its first series' colour (#2f6fde): proof that a line was drawn, not just axes. */
async function drawnPixels(p: Page, selector: string): Promise<number> {
  return p.evaluate((sel) => {
    const canvas = document.querySelector(`${sel} canvas`) as HTMLCanvasElement | null;
    if (!canvas) return 0;
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3]! > 200 && Math.abs(data[i]! - 0x2f) < 40 && Math.abs(data[i + 1]! - 0x6f) < 40 && Math.abs(data[i + 2]! - 0xde) < 40)
        n++;
    }
    return n;
  }, selector);
}

describe('the experiments example on the dashboard', () => {
  it("draws the solver's energy per iteration from its progress events", async () => {
    const { startExperiments } = await import('../../../examples/experiments/app.js');
    const app = await startExperiments({ logDestination: { write: () => true } });
    const b = await launch();
    try {
      const res = await fetch(`${app.url}/experiments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ size: 40, seed: 7 }),
      });
      expect(res.status).toBe(202);
      const { experimentId } = (await res.json()) as { experimentId: string };
      const done = await until(
        async () => app.runtime.jobs.get(experimentId),
        (j) => j?.state === 'succeeded',
      );
      const iterations = (done!.result as { iterations: number }).iterations;
      expect(iterations).toBeGreaterThan(3);
      const p = await b.open(`${app.url}/dashboard`);
      await p.locator(`#jobs-body tr[data-job-id="${experimentId}"] .job-link`).click();
      const chart = p.locator('#progress-chart');
      await poll(() => chart.getAttribute('data-points'), 15_000).toBe(String(iterations));
      expect(await chart.getAttribute('data-series')).toBe('energy');
      expect(await p.locator('#progress-x').textContent()).toBe('iteration');
      expect(await drawnPixels(p, '#progress-chart')).toBeGreaterThan(50);
      await p.locator('#detail').screenshot({ path: join(OUTPUT, 'dashboard-experiment.png') });
    } finally {
      await b.close();
      await app.close();
    }
  }, 40_000);
});

describe('live updates across token expiry', () => {
  it('opens a socket with a fresh token before the old one expires and misses no event', async () => {
    const s = await testServer({ server: { apiKeys: [{ key: ADMIN, scopes: ['admin'] }], streams: { tokenTtlMs: 2_000 } } });
    const b = await launch();
    try {
      const p = await b.open(`${s.url}/dashboard`);
      const sockets: string[] = [];
      p.on('websocket', (ws) => sockets.push(ws.url()));
      await login(p);
      const job = await s.runtime.jobs.enqueue('demo.progress', { steps: 25, ms: 200 });
      await p.getByLabel('Find job').fill(job.id);
      await p.getByRole('button', { name: 'Find' }).click();
      const log = p.getByRole('list', { name: 'Event log' });
      await poll(() => log.locator('li[data-type="succeeded"]').count(), 20_000).toBe(1);
      const seqs = await log.locator('li').evaluateAll((lis) => lis.map((li) => Number((li as HTMLElement).dataset.seq)));
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      expect(seqs.length).toBe(28); // enqueued, started, 25 progress, succeeded
      // The job ran about 5 s on 2 s tokens: the page renewed its socket at least twice.
      expect(sockets.length).toBeGreaterThanOrEqual(3);
      expect(new Set(sockets).size).toBe(sockets.length);
      expect(await p.locator('#conn').textContent()).toBe('Live updates: on');
    } finally {
      await b.close();
      await s.close();
    }
  }, 40_000);
});
