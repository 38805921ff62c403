import { afterEach, describe, expect, it } from 'vitest';
import { type Overview } from '../../../src/server/dashboard/index.js';
import { COUNT_CAP, buildOverview } from '../../../src/server/dashboard/overview.js';
import type { DashboardSource } from '../../../src/server/dashboard/source.js';
import { aiConfig, ask } from '../../ai/fixtures.js';
import { startMockProvider, type MockProvider } from '../../support/mock-provider.js';
import { testServer } from '../../support/runtime.js';

const KEYS = { admin: 'tl-admin-key-7d1e', reader: 'tl-reader-key-2b8a', ai: 'tl-ai-only-key-93cf' };

let t: Awaited<ReturnType<typeof testServer>> | undefined;
let mock: MockProvider | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
  mock = undefined;
});

async function overview(key: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${t!.url}/v1/admin/overview`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, text: await res.text() };
}

describe('GET /v1/admin/overview', () => {
  it('needs the jobs:read or admin scope', async () => {
    t = await testServer({
      server: {
        apiKeys: [
          { key: KEYS.admin, scopes: ['admin'] },
          { key: KEYS.reader, scopes: ['jobs:read'] },
          { key: KEYS.ai, scopes: ['ai'] },
        ],
      },
    });
    expect((await overview(KEYS.admin)).status).toBe(200);
    expect((await overview(KEYS.reader)).status).toBe(200);
    const denied = await overview(KEYS.ai);
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.text).error.code).toBe('TL_ERR_AUTH_FORBIDDEN');
  });

  it("counts jobs per state from the store's counters, exact past the old page cap", async () => {
    t = await testServer({ jobs: { worker: false } });
    for (let i = 0; i < COUNT_CAP + 1; i++) await t.runtime.jobs.enqueue('demo.progress', { steps: 1, ms: 0 }, { delayMs: 60_000 });
    await t.runtime.jobs.enqueue('demo.progress', { steps: 1, ms: 0 });
    const o = JSON.parse((await overview('unused')).text) as Overview;
    expect(o.jobs!.counts.delayed).toEqual({ count: COUNT_CAP + 1, more: false });
    expect(o.jobs!.counts.queued).toEqual({ count: 1, more: false });
    expect(o.jobs!.counts.running).toEqual({ count: 0, more: false });
    // Per task too, for the dashboard's tabs under a task filter.
    expect(o.jobs!.byTask!['demo.progress']).toMatchObject({ delayed: COUNT_CAP + 1, queued: 1 });
  });

  it('reports cooling and disabled keys by index, never the key', async () => {
    mock = await startMockProvider();
    mock.faultForKey('key-a0', '401');
    mock.faultForKey('key-a1', '429');
    t = await testServer(aiConfig(mock.url));
    // a0 is refused (disabled), a1 is rate limited (cools), b0 answers.
    for (let i = 0; i < 2; i++) await t.runtime.ai.chat(ask(`hello ${i}`), {});
    const { status, text } = await overview('unused');
    expect(status).toBe(200);
    for (const key of ['key-a0', 'key-a1', 'key-b0']) expect(text).not.toContain(key);
    const o = JSON.parse(text) as Overview;
    const a = o.ai!.providers.find((p) => p.name === 'a')!;
    expect(a.keys.map((k) => k.index)).toEqual([0, 1]);
    expect(a.keys[0]!.disabled).toBe(true);
    // A 429 cools the pair (key 1, gpt-mock), not the whole key.
    expect(a.keys[1]!.models![0]).toMatchObject({ model: 'gpt-mock', coolingUntil: expect.any(Number) });
    expect(a.keys[1]!.models![0]!.coolingUntil).toBeGreaterThan(Date.now());
    const b = o.ai!.providers.find((p) => p.name === 'b')!;
    expect(b.keys).toEqual([{ index: 0, disabled: false, inFlight: 0, state: 'ok' }]);
    expect(a.keys.map((k) => k.state)).toEqual(['disabled', 'cooling']);
    expect(a.status.state).toBe('idle');
    expect(o.lanes!.ai!.completed + o.lanes!.ai!.failed).toBeGreaterThanOrEqual(2);
  });
});

describe('buildOverview over a host with only some subsystems', () => {
  it('reports the kernel parts and null for a subsystem the host lacks (no casts, the DashboardSource type)', async () => {
    t = await testServer({});
    const rt = t.runtime;
    // Only the kernel and the lanes: what a host built by hand without ai/ and jobs/ offers.
    const partial: DashboardSource = { loop: rt.loop, metrics: rt.metrics, scrub: rt.scrub, lanes: rt.lanes };
    const view = await buildOverview(partial);
    expect(view.ai).toBeNull();
    expect(view.jobs).toBeNull();
    expect(Object.keys(view.lanes ?? {})).toEqual(expect.arrayContaining(['ai', 'data', 'io']));
    expect(view.loop.delayMs).toBeDefined();
    // The whole runtime is a DashboardSource as it is.
    const full = await buildOverview(rt);
    expect(full.jobs?.counts.queued).toEqual({ count: 0, more: false });
    expect(full.ai).not.toBeNull();
  });
});
