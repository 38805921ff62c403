/**
 * Issue 18 points 2, 3 and 10: WebSockets are bounded per key and in all, and their subscriptions
 * per key; GET /v1/jobs leaves input and result out unless asked and ends a page early past its
 * byte budget with a cursor; a stream opened with a token ends when the token expires (SSE: a final
 * error event; WebSocket: close 4001).
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { defineTask } from '../../../src/jobs/task.js';
import { testServer } from '../../support/runtime.js';
import { api, readSse } from '../routes/jobs-helpers.js';

type T = Awaited<ReturnType<typeof testServer>>;

const open = (url: string, headers: Record<string, string>) =>
  new Promise<WebSocket | { status: number; body: string }>((resolve) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
  });

describe('bounded streams and lists', () => {
  let t: T | undefined;
  const sockets: WebSocket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.terminate();
    await t?.close();
    t = undefined;
  });

  it('refuses a WebSocket past server.streams.maxSocketsPerKey or maxSockets with 429, and frees the slot on close', async () => {
    t = await testServer({
      server: { apiKeys: ['ws-key-a-123456', 'ws-key-b-123456', 'ws-key-c-123456'], streams: { maxSocketsPerKey: 2, maxSockets: 3 } },
    });
    const a = { authorization: 'Bearer ws-key-a-123456' };
    const b = { authorization: 'Bearer ws-key-b-123456' };
    const c = { authorization: 'Bearer ws-key-c-123456' };
    for (let i = 0; i < 2; i++) sockets.push((await open(t.url, a)) as WebSocket);
    const third = (await open(t.url, a)) as { status: number; body: string };
    expect(third.status).toBe(429);
    expect(JSON.parse(third.body).error).toMatchObject({
      code: 'TL_ERR_RATE_LIMITED',
      message: expect.stringContaining('server.streams.maxSocketsPerKey'),
    });
    sockets.push((await open(t.url, b)) as WebSocket);
    const overall = (await open(t.url, c)) as { status: number; body: string };
    expect(overall.status).toBe(429);
    expect(JSON.parse(overall.body).error.message).toContain('server.streams.maxSockets');
    // One closes: its slot is free again.
    const closed = new Promise((r) => sockets[0]!.once('close', r));
    sockets[0]!.close();
    await closed;
    await expect.poll(async () => (await open(t!.url, a)) instanceof WebSocket, { timeout: 5_000 }).toBe(true);
  });

  it('counts subscriptions per key across its sockets (server.streams.maxSubscriptionsPerKey)', async () => {
    t = await testServer({ server: { streams: { maxSubscriptionsPerKey: 3 } } });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++)
      ids.push((await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 1, ms: 1 }, delayMs: 600_000 })).body.id);
    const s1 = (await open(t.url, {})) as WebSocket;
    const s2 = (await open(t.url, {})) as WebSocket;
    sockets.push(s1, s2);
    const replies: any[] = [];
    for (const s of [s1, s2]) s.on('message', (d) => replies.push(JSON.parse(String(d))));
    s1.send(JSON.stringify({ op: 'subscribe', jobId: ids[0] }));
    s1.send(JSON.stringify({ op: 'subscribe', jobId: ids[1] }));
    s2.send(JSON.stringify({ op: 'subscribe', jobId: ids[2] }));
    await expect.poll(() => replies.filter((r) => r.type === 'subscribed').length, { timeout: 5_000 }).toBe(3);
    s2.send(JSON.stringify({ op: 'subscribe', jobId: ids[3] }));
    await expect
      .poll(() => replies.find((r) => r.type === 'error'), { timeout: 5_000 })
      .toMatchObject({
        jobId: ids[3],
        error: { code: 'TL_ERR_RATE_LIMITED', message: expect.stringContaining('server.streams.maxSubscriptionsPerKey') },
      });
    s1.send(JSON.stringify({ op: 'unsubscribe', jobId: ids[0] }));
    await expect.poll(() => replies.some((r) => r.type === 'unsubscribed' && r.jobId === ids[0]), { timeout: 5_000 }).toBe(true);
    s2.send(JSON.stringify({ op: 'subscribe', jobId: ids[3] }));
    await expect.poll(() => replies.some((r) => r.type === 'subscribed' && r.jobId === ids[3]), { timeout: 5_000 }).toBe(true);
  });

  it('lists without input and result unless ?include= asks, and ends a page early past server.maxListBytes', async () => {
    t = await testServer({ server: { maxListBytes: 50_000 } });
    t.runtime.jobs.register(defineTask({ name: 'test.padded', lane: 'demo', run: async () => 'done' }));
    const pad = 'p'.repeat(20_000);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await api(t.url, 'POST', '/v1/jobs', { task: 'test.padded', input: { pad }, delayMs: 600_000 });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    const plain = await api(t.url, 'GET', '/v1/jobs?limit=500');
    expect(plain.body.jobs).toHaveLength(6);
    expect(plain.body.next).toBeNull();
    for (const j of plain.body.jobs) expect(j).not.toHaveProperty('input');
    const bad = await api(t.url, 'GET', '/v1/jobs?include=secrets');
    expect(bad.status).toBe(400);
    // With input: about 20 kB a record, so a 50 kB budget ends each page after two or three.
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { status: number; body: any } = await api(
        t.url,
        'GET',
        `/v1/jobs?limit=500&include=input,result${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.jobs.length).toBeGreaterThan(0);
      expect(page.body.jobs.length).toBeLessThanOrEqual(3);
      for (const j of page.body.jobs) {
        expect(j.input.pad).toHaveLength(20_000);
        seen.push(j.id);
      }
      cursor = page.body.next;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it('ends an SSE stream with an error event and a WebSocket with 4001 when their token expires; no subscribe after', async () => {
    t = await testServer({ server: { apiKeys: ['tok-key-123456'] } });
    const key = 'tok-key-123456';
    const id = (await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 1, ms: 1 }, delayMs: 600_000 }, key)).body.id;
    const minted = (await api(t.url, 'POST', '/v1/tokens', { ttlMs: 1_000 }, key)).body;
    const t0 = Date.now();
    const sse = await readSse(`${t.url}/v1/jobs/${id}/events?token=${encodeURIComponent(minted.token)}`, {}, 10_000);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(sse.status).toBe(200);
    const last = sse.frames.at(-1)!;
    expect(last.event).toBe('error');
    expect(JSON.parse(last.data)).toMatchObject({ code: 'TL_ERR_AUTH_TOKEN_EXPIRED' });

    const minted2 = (await api(t.url, 'POST', '/v1/tokens', { ttlMs: 1_000 }, key)).body;
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/v1/ws?token=${encodeURIComponent(minted2.token)}`);
    sockets.push(ws);
    const code = await new Promise<number>((resolve) => {
      ws.once('close', (c) => resolve(c));
      ws.once('open', () => ws.send(JSON.stringify({ op: 'subscribe', jobId: id })));
    });
    expect(code).toBe(4001);
  });
});
