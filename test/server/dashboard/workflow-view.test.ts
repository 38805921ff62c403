import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTask } from '../../../src/index.js';
import { testServer, type TestRuntime } from '../../support/runtime.js';
import { axeViolations, launch, OUTPUT, poll, screenshot, until, type Browser } from './browser.js';

const ADMIN = 'tl-dash-wf-admin-3f0c';

let t: (TestRuntime & { url: string }) | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
const pageErrors: string[] = [];

/** A job's detail, chosen by its id in the search box. */
async function show(p: Page, id: string): Promise<void> {
  await p.getByLabel('Find job').fill(id);
  await p.getByRole('button', { name: 'Find' }).click();
  await poll(() => p.locator('#detail-facts dd[data-fact="job"]').textContent()).toBe(id);
}

function steps(p: Page) {
  return p
    .getByRole('list', { name: /^Steps/ })
    .locator('li')
    .evaluateAll((lis) =>
      lis.map((li) => ({
        name: li.querySelector('.step-name')!.textContent,
        state: (li as HTMLElement).dataset.state,
        ms: li.querySelector('.step-ms')!.textContent,
        width: (li.querySelector('.step-fill') as HTMLElement).style.width,
      })),
    );
}

beforeAll(async () => {
  t = await testServer({ server: { apiKeys: [{ key: ADMIN, scopes: ['admin'] }] } });
  const jobs = t.runtime.jobs;
  const child = defineTask({
    name: 'wf.page',
    lane: 'demo',
    async run(input: { n: number }) {
      await sleep(30);
      return { page: input.n };
    },
  });
  jobs.register(child);
  jobs.register(
    defineTask({
      name: 'wf.flow',
      lane: 'demo',
      maxAttempts: 1,
      async run(_input: unknown, ctx) {
        await ctx.step('fetch', async () => {
          await sleep(1_500);
          return 'fetched';
        });
        // The same name twice: the second reads "parse #2".
        for (let i = 0; i < 2; i++) {
          await ctx.step('parse', async () => {
            await sleep(40);
            return 'parsed';
          });
        }
        const kids = [await ctx.spawn(child, { n: 1 }), await ctx.spawn(child, { n: 2 })];
        await ctx.join(kids);
        const approval = await ctx.waitForSignal<{ ok: boolean }>('approve', { timeoutMs: 120_000 });
        await ctx.step('store', () => approval.ok);
        return { stored: approval.ok };
      },
    }),
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
});

describe('a workflow on the dashboard (Chromium)', () => {
  it('shows the running step live, then the steps as a timeline with durations, the children, and the signal it waits for', async () => {
    const p = page!;
    const jobs = t!.runtime.jobs;
    const { id } = await jobs.enqueue('wf.flow', {});
    await until(
      async () => (await jobs.get(id))?.state,
      (s) => s === 'running',
    );
    await show(p, id);
    // The first step runs for 1.5 s: the page shows it running (from its step.started event), its time going on.
    await poll(() => steps(p).then((s) => s.map((x) => `${x.name}:${x.state}`).join(','))).toBe('fetch:running');
    expect((await steps(p))[0]!.ms).toMatch(/ so far$/);

    await until(
      async () => (await jobs.get(id))?.waitingFor?.kind,
      (k) => k === 'signal',
    );
    const waiting = p.locator('#detail-waiting .waiting-for');
    await poll(() => waiting.getAttribute('data-kind')).toBe('signal');
    expect(await waiting.textContent()).toMatch(/^Waiting for signal approve \(times out in \d+/);
    await poll(() => p.locator('#detail-facts dd[data-fact="state"]').textContent()).toBe('waiting');

    await poll(() => steps(p).then((s) => s.length)).toBe(3);
    const shown = await steps(p);
    expect(shown.map((s) => [s.name, s.state])).toEqual([
      ['fetch', 'completed'],
      ['parse', 'completed'],
      ['parse #2', 'completed'],
    ]);
    // Durations as the server measured them; the bar of the longest step is full.
    const stored = (await (await fetch(`${t!.url}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
      steps: Array<{ name: string; durationMs: number }>;
      children: Array<{ id: string; task: string; state: string }>;
    };
    expect(stored.steps[0]!.durationMs).toBeGreaterThanOrEqual(1_490);
    expect(shown[0]!.ms).toBe(`${(stored.steps[0]!.durationMs / 1000).toFixed(1)} s`);
    expect(shown[1]!.ms).toMatch(/^\d+ ms$/);
    expect(shown[0]!.width).toBe('100%');
    expect(Number.parseInt(shown[1]!.width, 10)).toBeLessThan(50);
    expect(await p.locator('#steps-total').textContent()).toMatch(/^3 steps, \d+\.\d s$/);

    // Children in spawn order, each with its state; both ended before the job parked on its signal.
    const rows = p.getByRole('table', { name: 'Child jobs in spawn order' }).locator('tbody tr');
    await poll(() => rows.count()).toBe(2);
    expect(await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.child))).toEqual(stored.children.map((c) => c.id));
    expect(await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.state))).toEqual(['succeeded', 'succeeded']);
    expect(await p.locator('#children-count').textContent()).toBe('2 of 2 ended');
    await screenshot(p, 'dashboard-workflow-waiting.png');

    // A child opens in the detail and names its parent, which opens in turn.
    await rows.first().getByRole('button').click();
    await poll(() => p.locator('#detail-facts dd[data-fact="job"]').textContent()).toBe(stored.children[0]!.id);
    await poll(() => p.locator('#detail-waiting .parent').textContent()).toMatch(/^Child of job /);
    expect(await p.getByRole('list', { name: /^Steps/ }).isHidden()).toBe(true);
    await p.locator('#detail-waiting .parent button').click();
    await poll(() => p.locator('#detail-facts dd[data-fact="job"]').textContent()).toBe(id);

    // The signal wakes it: the wait is gone and the third step joins the timeline.
    await jobs.signal(id, 'approve', { ok: true });
    await poll(() => p.locator('#detail-facts dd[data-fact="state"]').textContent(), 15_000).toBe('succeeded');
    await poll(() => steps(p).then((s) => s.map((x) => `${x.name}:${x.state}`))).toEqual([
      'fetch:completed',
      'parse:completed',
      'parse #2:completed',
      'store:completed',
    ]);
    expect(await p.locator('#detail-waiting').isHidden()).toBe(true);
    await screenshot(p, 'dashboard-workflow-done.png');
  }, 60_000);

  it('shows a sleeping job until when it sleeps, and a plain job no workflow panel', async () => {
    const p = page!;
    const jobs = t!.runtime.jobs;
    jobs.register(
      defineTask({
        name: 'wf.nap',
        lane: 'demo',
        async run(_input: unknown, ctx) {
          await ctx.sleep(60_000);
        },
      }),
    );
    const { id } = await jobs.enqueue('wf.nap', {});
    await until(
      async () => (await jobs.get(id))?.state,
      (s) => s === 'waiting',
    );
    await show(p, id);
    const waiting = p.locator('#detail-waiting .waiting-for');
    await poll(() => waiting.getAttribute('data-kind')).toBe('sleep');
    expect(await waiting.textContent()).toMatch(/^Sleeping until .+ \(in (59|60)s\)$/);
    await jobs.cancel(id);

    const plain = await jobs.enqueue('demo.progress', { steps: 1, ms: 0 });
    await until(
      async () => (await jobs.get(plain.id))?.state,
      (s) => s === 'succeeded',
    );
    await show(p, plain.id);
    await poll(() => p.locator('#detail-facts dd[data-fact="state"]').textContent()).toBe('succeeded');
    expect(await p.locator('#detail-workflow').isHidden()).toBe(true);
  }, 30_000);

  it('fits 390 px, passes axe-core, and ran without a script error or a CSP refusal', async () => {
    const p = page!;
    const { id } = await t!.runtime.jobs.enqueue('wf.flow', {});
    await until(
      async () => (await t!.runtime.jobs.get(id))?.waitingFor?.kind,
      (k) => k === 'signal',
    );
    await show(p, id);
    await poll(() => p.locator('#children-body tr').count()).toBe(2);
    expect(await axeViolations(p)).toEqual([]);
    await p.setViewportSize({ width: 390, height: 844 });
    await poll(() => p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await p.locator('#detail').screenshot({ path: join(OUTPUT, 'dashboard-workflow-390.png') });
    await p.setViewportSize({ width: 1280, height: 900 });
    await t!.runtime.jobs.cancel(id);
    // The page's first calls, before the key is entered, are 401s; Chromium logs every failed fetch.
    expect(pageErrors.filter((e) => !/status of 401 /.test(e))).toEqual([]);
  }, 30_000);
});
