import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, type TestRuntime } from '../support/runtime.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const CLIENT_KEY = 'tl-dashboard-client-key-3f9c1e';
/** Provider keys the page and the overview must never show. */
const PROVIDER_KEYS = ['sk-fake-provider-key-0-a1b2c3d4e5', 'sk-fake-provider-key-1-f6a7b8c9d0'];
const OUTPUT = fileURLToPath(new URL('../../test-output/', import.meta.url));

let t: (TestRuntime & { url: string }) | undefined;
let browser: BrowserContext | undefined;
let profile: string | undefined;

/** A port nothing listens on: the fake provider's calls fail fast with ECONNREFUSED. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian chromium: apt-get install chromium, or run .ci/run`);
  }
  const port = await closedPort();
  t = await testServer({
    server: { apiKeys: [CLIENT_KEY] },
    providers: { fake: { type: 'openai-compatible', baseURL: `http://127.0.0.1:${port}/v1`, apiKeys: PROVIDER_KEYS } },
    models: { fast: [{ provider: 'fake', model: 'fake-model' }] },
  });
  profile = mkdtempSync(join(tmpdir(), 'tasklane-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 20_000,
  });
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function openDashboard(): Promise<Page> {
  const page = await browser!.newPage();
  page.setDefaultTimeout(10_000);
  await page.goto(`${t!.url}/dashboard`);
  return page;
}

/** Polls with a bound suited to a busy shared machine (vitest's default is 1 s). */
function poll<T>(fn: () => Promise<T> | T, timeout = 10_000) {
  return expect.poll(fn, { timeout, interval: 50 });
}

function auth(): Record<string, string> {
  return { authorization: `Bearer ${CLIENT_KEY}` };
}

describe('GET /dashboard', () => {
  it('serves the shell and its assets without a key, and the data routes only with one', async () => {
    for (const [path, type] of [
      ['/dashboard', 'text/html'],
      ['/dashboard/app.js', 'text/javascript'],
      ['/dashboard/js/jobs.js', 'text/javascript'],
      ['/dashboard/app.css', 'text/css'],
      ['/dashboard/vendor/uplot.js', 'text/javascript'],
      ['/dashboard/favicon.svg', 'image/svg+xml'],
    ] as const) {
      const res = await fetch(`${t!.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toContain(type);
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      const body = await res.text();
      for (const key of [...PROVIDER_KEYS, CLIENT_KEY]) expect(body).not.toContain(key);
    }
    const denied = await fetch(`${t!.url}/v1/admin/overview`);
    expect(denied.status).toBe(401);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('TL_ERR_AUTH_MISSING');
    const wrong = await fetch(`${t!.url}/v1/admin/overview`, { headers: { authorization: 'Bearer not-the-key' } });
    expect(wrong.status).toBe(401);
  });

  it('shows a key prompt when the data calls fail for want of a key', async () => {
    const page = await openDashboard();
    try {
      await poll(() => page.getByRole('heading', { name: 'Key required' }).isVisible()).toBe(true);
      await poll(() => page.getByRole('alert').textContent()).toContain('Key required');
      expect(await page.getByLabel('Client key').isVisible()).toBe(true);
      expect(await page.getByRole('status', { name: 'Dashboard status' }).textContent()).toBe('Key required');
      expect(await page.locator('#jobs-body tr').count()).toBe(0);
      expect(await page.locator('#lanes-body tr').count()).toBe(0);

      // A wrong key is refused just as visibly.
      await page.getByLabel('Client key').fill('not-the-key');
      await page.getByRole('button', { name: 'Use key' }).click();
      await poll(() => page.getByRole('alert').textContent()).toContain('refused');
      expect(await page.getByRole('heading', { name: 'Key required' }).isVisible()).toBe(true);
    } finally {
      await page.close();
    }
  });

  it('runs demo.progress live: the bar climbs to 100 %, the job succeeds, the log holds every event in order', async () => {
    // A failing AI call so the providers panel has something to report (connection refused).
    const chat = await fetch(`${t!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(chat.status).toBeGreaterThanOrEqual(500);
    const chatBody = await chat.text();
    for (const key of PROVIDER_KEYS) expect(chatBody).not.toContain(key);

    const page = await openDashboard();
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    try {
      await page.getByLabel('Client key').fill(CLIENT_KEY);
      await page.getByRole('button', { name: 'Use key' }).click();
      await poll(() => page.getByRole('heading', { name: 'Key required' }).isVisible()).toBe(false);

      // Lanes and loop panels show figures.
      const lanes = page.getByRole('table', { name: 'Lane statistics' });
      await poll(() => lanes.getByRole('rowheader').allTextContents()).toEqual(expect.arrayContaining(['ai', 'data', 'io', 'demo']));
      await poll(() => page.locator('#loop-p99').textContent()).toMatch(/^\d+\.\d\d ms$/);
      expect(await page.locator('#loop-p50').textContent()).toMatch(/^\d+\.\d\d ms$/);
      expect(await page.locator('#loop-max').textContent()).toMatch(/^\d+\.\d\d ms$/);
      await poll(() => page.getByRole('status', { name: 'Dashboard status' }).textContent()).toMatch(/^Updated /);

      // Record every value the job's progress bar takes, to prove it moved step by step.
      await page.evaluate(() => {
        const seen: Record<string, string[]> = {};
        (window as unknown as { barValues: typeof seen }).barValues = seen;
        new MutationObserver((records) => {
          for (const r of records) {
            const node = r.target as Element;
            if (r.type === 'attributes' && node.getAttribute('role') === 'progressbar') {
              (seen[node.getAttribute('aria-label')!] ??= []).push(node.getAttribute('aria-valuenow')!);
            }
          }
        }).observe(document.getElementById('jobs-body')!, { subtree: true, attributes: true, attributeFilter: ['aria-valuenow'] });
      });

      await page.getByText('Submit a job').click();
      await page.getByLabel('Task to run').selectOption('demo.progress');
      await page.getByLabel('Input (JSON)').fill('{ "steps": 10, "ms": 50 }');
      const submitted = page.waitForResponse((r) => r.url().endsWith('/v1/jobs') && r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Submit' }).click();
      const res = await submitted;
      expect(res.status()).toBe(201);
      const { id } = (await res.json()) as { id: string };

      const bar = page.getByRole('progressbar', { name: `Progress of job ${id}` });
      await poll(() => bar.getAttribute('aria-valuenow'), 15_000).toBe('100');
      const row = page.getByRole('row').filter({ has: bar });
      await poll(() => row.getByRole('cell').nth(2).textContent(), 15_000).toBe('succeeded');
      expect(await row.getByRole('cell').nth(1).textContent()).toBe('demo.progress');
      expect(await row.getByRole('cell').nth(3).textContent()).toMatch(/^1\/\d+$/);

      const values = await page.evaluate(
        (label) => (window as unknown as { barValues: Record<string, string[]> }).barValues[label] ?? [],
        `Progress of job ${id}`,
      );
      const numbers = values.map(Number);
      expect(numbers.at(-1)).toBe(100);
      for (let i = 1; i < numbers.length; i++) expect(numbers[i]).toBeGreaterThanOrEqual(numbers[i - 1]!);
      // The bar moved in steps of the ten progress events (10, 20, ... 100), not in one jump at the
      // end; a list refresh landing mid-job may skip a few steps it already covers.
      expect(numbers.every((n) => n % 10 === 0)).toBe(true);
      expect(new Set(numbers.filter((n) => n > 0 && n < 100)).size).toBeGreaterThanOrEqual(3);

      // The detail panel replays the event log from seq 1, in order, ending with the success.
      const log = page.getByRole('list', { name: 'Event log' });
      await poll(() => log.locator('li[data-type="succeeded"]').count(), 10_000).toBe(1);
      const items = await log.locator('li').evaluateAll((lis) =>
        lis.map((li) => ({
          seq: Number((li as HTMLElement).dataset.seq),
          type: (li as HTMLElement).dataset.type,
          data: li.querySelector('.data')!.textContent,
        })),
      );
      expect(items.map((e) => e.seq)).toEqual(items.map((_, i) => i + 1));
      expect(items[0]!.type).toBe('enqueued');
      expect(items.at(-1)!.type).toBe('succeeded');
      const progress = items.filter((e) => e.type === 'progress');
      expect(progress.map((e) => JSON.parse(e.data!))).toEqual(Array.from({ length: 10 }, (_, i) => ({ step: i + 1, of: 10 })));
      expect(await page.locator('#detail-facts').textContent()).toContain('succeeded');

      // The socket authenticated with a minted token, never with the client key itself.
      expect(sockets.length).toBeGreaterThanOrEqual(1);
      for (const url of sockets) {
        expect(url).toMatch(/\/v1\/ws\?token=tl1\./);
        expect(url).not.toContain(CLIENT_KEY);
      }

      // Job counts and the provider's key health (by index only).
      await poll(() =>
        page.getByRole('group', { name: 'Filter by state' }).getByRole('button', { name: 'Succeeded 1', exact: true }).count(),
      ).toBe(1);
      const keys = page.getByRole('table', { name: 'Key health by provider' });
      await poll(() => keys.getByRole('cell').allTextContents()).toEqual(expect.arrayContaining(['#0', '#1']));

      mkdirSync(OUTPUT, { recursive: true });
      await page.screenshot({ path: join(OUTPUT, 'dashboard.png'), fullPage: true });

      const html = await page.content();
      for (const key of PROVIDER_KEYS) expect(html).not.toContain(key);
    } finally {
      await page.close();
    }
  }, 40_000);

  it('asks for no key when the server has none (loopback only) and follows jobs over a token-less socket', async () => {
    const open = await testServer();
    const page = await browser!.newPage();
    page.setDefaultTimeout(10_000);
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    try {
      await page.goto(`${open.url}/dashboard`);
      await poll(() => page.getByRole('status', { name: 'Dashboard status' }).textContent()).toMatch(/^Updated /);
      expect(await page.getByRole('heading', { name: 'Key required' }).isVisible()).toBe(false);
      const job = await open.runtime.jobs.enqueue('demo.progress', { steps: 3, ms: 20 });
      const bar = page.getByRole('progressbar', { name: `Progress of job ${job.id}` });
      await poll(() => bar.getAttribute('aria-valuenow'), 15_000).toBe('100');
      await poll(() => page.getByRole('row').filter({ has: bar }).getByRole('cell').nth(2).textContent(), 15_000).toBe('succeeded');
      expect(sockets.length).toBeGreaterThanOrEqual(1);
      for (const url of sockets) expect(url).toBe(`${open.url.replace('http:', 'ws:')}/v1/ws`);
    } finally {
      await page.close();
      await open.close();
    }
  }, 30_000);

  it('answers the overview with lanes, loop, job counts and key indexes, never a provider key', async () => {
    const res = await fetch(`${t!.url}/v1/admin/overview`, { headers: auth() });
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const key of PROVIDER_KEYS) expect(text).not.toContain(key);
    const o = JSON.parse(text) as {
      loop: { delayMs: { p50: number; p99: number; max: number } };
      lanes: Record<string, { active: number; completed: number }>;
      ai: { providers: Array<{ name: string; keys: Array<Record<string, unknown>> }> };
      jobs: { counts: Record<string, { count: number }>; tasks: Array<{ name: string }> };
    };
    expect(o.loop.delayMs.p99).toBeGreaterThanOrEqual(o.loop.delayMs.p50);
    expect(o.lanes.demo!.completed).toBeGreaterThanOrEqual(1);
    expect(o.jobs.counts.succeeded!.count).toBe(1);
    expect(o.jobs.tasks.map((x) => x.name)).toContain('demo.progress');
    const fake = o.ai.providers.find((p) => p.name === 'fake')!;
    expect(fake.keys.map((k) => k.index)).toEqual([0, 1]);
    for (const k of fake.keys) expect(Object.keys(k).sort()).toEqual(expect.arrayContaining(['disabled', 'inFlight', 'index']));
    for (const k of fake.keys) for (const v of Object.values(k)) expect(typeof v === 'string' && v.startsWith('sk-')).toBe(false);
  });
});
