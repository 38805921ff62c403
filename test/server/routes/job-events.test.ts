import { afterEach, describe, expect, it } from 'vitest';
import { testServer } from '../../support/runtime.js';
import { api, assertContiguous, eventually, readSse, streamsOpen, waitForState } from './jobs-helpers.js';

type T = Awaited<ReturnType<typeof testServer>>;

describe('job events over SSE', () => {
  let t: T | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function finishedJob(steps: number): Promise<string> {
    const job = (await api(t!.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps, ms: 0 } })).body;
    await waitForState(t!.url, job.id, ['succeeded']);
    return job.id;
  }

  it('replays every event from seq 0 with id, event and data fields, and ends after the terminal event', async () => {
    t = await testServer();
    const id = await finishedJob(3);
    const r = await readSse(`${t.url}/v1/jobs/${id}/events`);
    expect(r.status).toBe(200);
    expect(r.events.map((e) => e.type)).toEqual(['enqueued', 'started', 'progress', 'progress', 'progress', 'succeeded']);
    assertContiguous(r.events);
    for (const f of r.frames) {
      const e = JSON.parse(f.data);
      expect(f.id).toBe(String(e.seq));
      expect(f.event).toBe(e.type);
      expect(e.jobId).toBe(id);
    }
    expect(r.events.filter((e) => e.type === 'progress').map((e) => e.data)).toEqual([
      { step: 1, of: 3 },
      { step: 2, of: 3 },
      { step: 3, of: 3 },
    ]);
    expect(r.events.at(-1)!.data).toEqual({ result: { steps: 3 } });
  });

  it('resumes after Last-Event-ID (or ?from=) without a duplicate; Last-Event-ID wins', async () => {
    t = await testServer();
    const id = await finishedJob(4);
    const all = (await readSse(`${t.url}/v1/jobs/${id}/events`)).events;
    const resumed = await readSse(`${t.url}/v1/jobs/${id}/events`, { headers: { 'last-event-id': '3' } });
    expect(resumed.events.map((e) => e.seq)).toEqual(all.slice(3).map((e) => e.seq));
    expect(resumed.events).toEqual(all.slice(3));
    const from = await readSse(`${t.url}/v1/jobs/${id}/events?from=5`);
    expect(from.events).toEqual(all.slice(5));
    const both = await readSse(`${t.url}/v1/jobs/${id}/events?from=1`, { headers: { 'last-event-id': '6' } });
    expect(both.events).toEqual(all.slice(6));
    const past = await readSse(`${t.url}/v1/jobs/${id}/events?from=${all.length}`);
    expect(past.status).toBe(200);
    expect(past.events).toEqual([]);
    const bad = await fetch(`${t.url}/v1/jobs/${id}/events`, { headers: { 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toMatch(/Last-Event-ID/);
    const missing = await fetch(`${t.url}/v1/jobs/nope/events`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.code).toBe('TL_ERR_JOB_NOT_FOUND');
  });

  it('gives two live subscribers identical sequences', async () => {
    t = await testServer();
    const job = (await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 40, ms: 2 }, delayMs: 200 })).body;
    const [a, b] = await Promise.all([readSse(`${t.url}/v1/jobs/${job.id}/events`), readSse(`${t.url}/v1/jobs/${job.id}/events`)]);
    expect(a.events.length).toBe(43);
    assertContiguous(a.events);
    expect(b.events).toEqual(a.events);
  });

  it('delivers 10,000 progress events in order', async () => {
    t = await testServer();
    const job = (await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 10_000, ms: 0 }, delayMs: 100 })).body;
    const r = await readSse(`${t.url}/v1/jobs/${job.id}/events`, {}, 60_000);
    expect(r.events.length).toBe(10_003);
    assertContiguous(r.events);
    const progress = r.events.filter((e) => e.type === 'progress').map((e) => (e.data as { step: number }).step);
    expect(progress).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
    expect(r.events.at(-1)!.type).toBe('succeeded');
  });

  it('sends heartbeat comments while nothing happens', async () => {
    t = await testServer({ server: { streams: { heartbeatMs: 50 } } });
    const job = (await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 1, ms: 0 }, delayMs: 400 })).body;
    const r = await readSse(`${t.url}/v1/jobs/${job.id}/events`);
    expect(r.comments.filter((c) => c === 'ping').length).toBeGreaterThanOrEqual(3);
    expect(r.events.at(-1)!.type).toBe('succeeded');
  });

  it('ends the subscription when the client goes away', async () => {
    t = await testServer();
    const job = (await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 1, ms: 0 }, delayMs: 60_000 })).body;
    const controller = new AbortController();
    const res = await fetch(`${t.url}/v1/jobs/${job.id}/events`, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    await eventually(async () => (await streamsOpen(t!.url, 'sse')) === 1, 'the stream to be counted');
    controller.abort();
    await eventually(async () => (await streamsOpen(t!.url, 'sse')) === 0, 'the stream to end after the client left');
  });

  it('needs the same auth as the API: a key header or a fresh token, never an expired one', async () => {
    t = await testServer({ server: { apiKeys: ['reader-key-123', { key: 'ai-key-123', scopes: ['ai'] }] } });
    const job = (await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 2, ms: 0 } }, 'reader-key-123')).body;
    await waitForState(t.url, job.id, ['succeeded'], 'reader-key-123');
    const url = `${t.url}/v1/jobs/${job.id}/events`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect((await none.json()).error.code).toBe('TL_ERR_AUTH_MISSING');
    expect((await fetch(url, { headers: { authorization: 'Bearer ai-key-123' } })).status).toBe(403);
    expect((await readSse(url, { headers: { authorization: 'Bearer reader-key-123' } })).events.length).toBe(5);

    const minted = (await api(t.url, 'POST', '/v1/tokens', { ttlMs: 1_000 }, 'reader-key-123')).body;
    const withToken = await readSse(`${url}?token=${encodeURIComponent(minted.token)}`);
    expect(withToken.status).toBe(200);
    expect(withToken.events.length).toBe(5);

    const forged = `${minted.token.slice(0, -4)}AAAA`;
    const bad = await fetch(`${url}?token=${encodeURIComponent(forged)}`);
    expect(bad.status).toBe(401);
    expect((await bad.json()).error.code).toBe('TL_ERR_AUTH_TOKEN_INVALID');

    const other = (await api(t.url, 'POST', '/v1/tokens', { jobs: ['some-other-job'] }, 'reader-key-123')).body;
    expect((await fetch(`${url}?token=${encodeURIComponent(other.token)}`)).status).toBe(403);

    // Tokens only open the stream routes.
    expect((await fetch(`${t.url}/v1/jobs/${job.id}?token=${encodeURIComponent(other.token)}`)).status).toBe(401);

    await new Promise((r) => setTimeout(r, Math.max(0, minted.expiresAt - Date.now()) + 50));
    const expired = await fetch(`${url}?token=${encodeURIComponent(minted.token)}`);
    expect(expired.status).toBe(401);
    expect((await expired.json()).error.code).toBe('TL_ERR_AUTH_TOKEN_EXPIRED');
  });
});
