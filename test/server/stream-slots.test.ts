import { afterEach, describe, expect, it } from 'vitest';
import { testServer } from '../support/runtime.js';

describe('open streams per client key', () => {
  let t: Awaited<ReturnType<typeof testServer>> | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('refuses a stream past server.maxStreamsPerKey with 429, frees the slot when one closes, and counts keys apart', async () => {
    t = await testServer({ server: { apiKeys: ['key-a-123456', 'key-b-123456'], maxStreamsPerKey: 2 } });
    const a = { authorization: 'Bearer key-a-123456' };
    const submit = await fetch(`${t.url}/v1/jobs`, {
      method: 'POST',
      headers: { ...a, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'demo.progress', input: { steps: 200, ms: 100 } }),
    });
    const { id } = await submit.json();
    const open = async (headers: Record<string, string>) => {
      const controller = new AbortController();
      const res = await fetch(`${t!.url}/v1/jobs/${id}/events`, { headers, signal: controller.signal });
      return { res, close: () => controller.abort() };
    };
    const first = await open(a);
    const second = await open(a);
    expect([first.res.status, second.res.status]).toEqual([200, 200]);
    const third = await open(a);
    expect(third.res.status).toBe(429);
    expect((await third.res.json()).error.message).toContain('server.maxStreamsPerKey');
    const other = await open({ authorization: 'Bearer key-b-123456' });
    expect(other.res.status).toBe(200);

    first.close();
    let again = await open(a);
    for (let i = 0; again.res.status === 429 && i < 50; i++) {
      // the server sees the close a moment after the client aborts
      await new Promise((r) => setTimeout(r, 20));
      again = await open(a);
    }
    expect(again.res.status).toBe(200);
    for (const s of [second, other, again]) s.close();
    await fetch(`${t.url}/v1/jobs/${id}/cancel`, { method: 'POST', headers: a });
  });
});
