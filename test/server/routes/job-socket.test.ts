import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { defineTask } from '../../../src/jobs/task.js';
import { testServer } from '../../support/runtime.js';
import { TestSocket, api, assertContiguous, eventually, streamsOpen, waitForState } from './jobs-helpers.js';

type T = Awaited<ReturnType<typeof testServer>>;

/** Megabytes of progress: more than loopback socket buffers hold, so a peer that stops reading backs the server up. */
const bigProgress = defineTask({
  name: 'test.big-progress',
  lane: 'demo',
  async run(input: { events: number }, ctx) {
    const pad = 'x'.repeat(8_000);
    for (let i = 1; i <= input.events; i++) {
      ctx.progress({ i, pad });
      if (i % 50 === 0) await tick();
    }
    return { events: input.events };
  },
});

describe('job events over WebSocket', () => {
  let t: T | undefined;
  const sockets: TestSocket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    await t?.close();
    t = undefined;
  });

  async function connect(query = '', headers: Record<string, string> = {}): Promise<TestSocket> {
    const s = new TestSocket(`${t!.url.replace('http', 'ws')}/v1/ws${query}`, headers);
    sockets.push(s);
    await s.opened();
    return s;
  }

  async function submit(input: { steps: number; ms: number }, delayMs = 0): Promise<string> {
    return (await api(t!.url, 'POST', '/v1/jobs', { task: 'demo.progress', input, delayMs })).body.id;
  }

  it('streams one job: subscribed, every event in order, then unsubscribed when it ends', async () => {
    t = await testServer();
    const id = await submit({ steps: 5, ms: 1 });
    const s = await connect();
    s.send({ op: 'subscribe', jobId: id });
    await s.until(() => s.messages.some((m) => m.type === 'unsubscribed'), 'the end of the stream');
    expect(s.messages[0]).toEqual({ type: 'subscribed', jobId: id, fromSeq: 0 });
    const events = s.events(id);
    assertContiguous(events);
    expect(events.map((e) => e.type)).toEqual([
      'enqueued',
      'started',
      'progress',
      'progress',
      'progress',
      'progress',
      'progress',
      'succeeded',
    ]);
    expect(s.messages.at(-1)).toEqual({ type: 'unsubscribed', jobId: id, reason: 'ended' });
  });

  it('follows many jobs on one connection, each in order, and resumes from fromSeq', async () => {
    t = await testServer();
    const ids = await Promise.all(Array.from({ length: 25 }, (_, i) => submit({ steps: 3 + (i % 4), ms: 1 })));
    const s = await connect();
    for (const id of ids) s.send({ op: 'subscribe', jobId: id });
    await s.until(() => s.messages.filter((m) => m.type === 'unsubscribed').length === ids.length, 'every job to end', 30_000);
    ids.forEach((id, i) => {
      const events = s.events(id);
      assertContiguous(events);
      expect(events.length).toBe(3 + (i % 4) + 3);
      expect(events.at(-1)!.type).toBe('succeeded');
    });
    const again = await connect();
    again.send({ op: 'subscribe', jobId: ids[0], fromSeq: 4 });
    await again.until(() => again.messages.some((m) => m.type === 'unsubscribed'), 'the resumed stream to end');
    expect(again.events(ids[0])).toEqual(s.events(ids[0]).slice(4));
  });

  it('delivers 10,000 progress events in order', async () => {
    t = await testServer();
    const id = await submit({ steps: 10_000, ms: 0 }, 100);
    const s = await connect();
    s.send({ op: 'subscribe', jobId: id });
    await s.until(() => s.messages.some((m) => m.type === 'unsubscribed'), 'the end of the stream', 60_000);
    const events = s.events(id);
    expect(events.length).toBe(10_003);
    assertContiguous(events);
    expect(events.filter((e) => e.type === 'progress').map((e) => (e.data as { step: number }).step)).toEqual(
      Array.from({ length: 10_000 }, (_, i) => i + 1),
    );
  });

  it('unsubscribes on request and answers bad messages and unknown jobs with typed errors', async () => {
    t = await testServer();
    const id = await submit({ steps: 1, ms: 0 }, 60_000);
    const s = await connect();
    s.send({ op: 'subscribe', jobId: id });
    await s.until(() => s.events(id).length === 1, 'the enqueued event');
    await eventually(async () => (await streamsOpen(t!.url, 'ws')) === 1, 'one subscription');
    s.send({ op: 'unsubscribe', jobId: id });
    await s.until(() => s.messages.some((m) => m.type === 'unsubscribed'), 'unsubscribed');
    await eventually(async () => (await streamsOpen(t!.url, 'ws')) === 0, 'no subscription');

    s.ws.send('not json');
    s.send({ op: 'subscribe' });
    s.send({ op: 'dance', jobId: id });
    s.send({ op: 'subscribe', jobId: 'no-such-job' });
    await s.until(() => s.messages.filter((m) => m.type === 'error').length === 4, 'four errors');
    const errors = s.messages.filter((m) => m.type === 'error');
    expect(errors[0].error).toMatchObject({ code: 'TL_ERR_VALIDATION', message: expect.stringMatching(/not JSON/) });
    expect(errors[1].error).toMatchObject({ code: 'TL_ERR_VALIDATION', message: expect.stringMatching(/jobId: Required/) });
    expect(errors[2].error).toMatchObject({ code: 'TL_ERR_VALIDATION', message: expect.stringMatching(/op: Invalid discriminator value/) });
    expect(errors[3]).toMatchObject({ jobId: 'no-such-job', error: { code: 'TL_ERR_JOB_NOT_FOUND' } });
    expect(s.closed).toBeUndefined();
  });

  it('needs a key header or a valid token; an expired token is refused', async () => {
    t = await testServer({ server: { apiKeys: ['reader-key-123'] } });
    const ws = `${t.url.replace('http', 'ws')}/v1/ws`;
    await expect(new TestSocket(ws).opened()).rejects.toThrow(/unexpected response 401/);
    await expect(new TestSocket(ws, { authorization: 'Bearer wrong' }).opened()).rejects.toThrow(/unexpected response 401/);
    await connect('', { authorization: 'Bearer reader-key-123' });
    const minted = (await api(t.url, 'POST', '/v1/tokens', { ttlMs: 1_000 }, 'reader-key-123')).body;
    const s = await connect(`?token=${encodeURIComponent(minted.token)}`);
    const id = (await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 1, ms: 0 } }, 'reader-key-123')).body.id;
    s.send({ op: 'subscribe', jobId: id });
    await s.until(() => s.events(id).at(-1)?.type === 'succeeded', 'the job over a token');
    await new Promise((r) => setTimeout(r, Math.max(0, minted.expiresAt - Date.now()) + 50));
    await expect(new TestSocket(`${ws}?token=${encodeURIComponent(minted.token)}`).opened()).rejects.toThrow(/unexpected response 401/);
    const scoped = (await api(t.url, 'POST', '/v1/tokens', { jobs: ['other-job'] }, 'reader-key-123')).body;
    const limited = await connect(`?token=${encodeURIComponent(scoped.token)}`);
    limited.send({ op: 'subscribe', jobId: id });
    await limited.until(() => limited.messages.some((m) => m.type === 'error'), 'a refusal');
    expect(limited.messages[0]).toMatchObject({ type: 'error', jobId: id, error: { code: 'TL_ERR_AUTH_FORBIDDEN' } });
  });

  it('drops a peer that stops answering pings', async () => {
    t = await testServer({ server: { streams: { heartbeatMs: 100 } } });
    const id = await submit({ steps: 1, ms: 0 }, 60_000);
    const s = await connect();
    s.send({ op: 'subscribe', jobId: id });
    await s.until(() => s.events(id).length === 1, 'the enqueued event');
    // A paused socket reads nothing, so it never sees a ping nor answers with a pong.
    (s.ws as unknown as { _socket: Socket })._socket.pause();
    await eventually(async () => (await streamsOpen(t!.url, 'ws')) === 0, 'the dead peer to be dropped', 10_000);
  });

  it('never buffers without bound for a peer that stops reading: it is closed, others get everything, and it resumes from its last seq', async () => {
    t = await testServer({ server: { streams: { wsHighWaterBytes: 64 * 1024, wsStallMs: 300, heartbeatMs: 60_000 } } });
    t.runtime.jobs.register(bigProgress);
    const total = 3_000;
    const id = (await api(t.url, 'POST', '/v1/jobs', { task: 'test.big-progress', input: { events: total }, delayMs: 300 })).body.id;
    const slow = await connect();
    const fast = await connect();
    slow.send({ op: 'subscribe', jobId: id });
    fast.send({ op: 'subscribe', jobId: id });
    await slow.until(() => slow.messages.some((m) => m.type === 'subscribed'), 'the slow subscription');
    const raw = (slow.ws as unknown as { _socket: Socket })._socket;
    raw.pause();
    await fast.until(() => fast.events(id).at(-1)?.type === 'succeeded', 'the fast peer to get the whole job', 60_000);
    expect(fast.events(id).length).toBe(total + 3);
    assertContiguous(fast.events(id));
    await eventually(async () => (await streamsOpen(t!.url, 'ws')) === 0, 'the stalled peer to be let go', 10_000);
    raw.resume();
    await slow.until(() => slow.closed !== undefined, 'the stalled peer to see its socket close', 15_000);
    const got = slow.events(id);
    expect(got.length).toBeLessThan(total + 3);
    expect(slow.closed!.code === 4008 || slow.closed!.code === 1006).toBe(true);
    assertContiguous(got);
    const lastSeq = got.at(-1)?.seq ?? 0;
    const again = await connect();
    again.send({ op: 'subscribe', jobId: id, fromSeq: lastSeq });
    await again.until(() => again.events(id).at(-1)?.type === 'succeeded', 'the resumed stream', 30_000);
    assertContiguous(again.events(id), lastSeq);
    expect([...got, ...again.events(id)]).toEqual(fast.events(id));
  });
});
