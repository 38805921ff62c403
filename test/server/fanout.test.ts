import { afterEach, describe, expect, it } from 'vitest';
import { Receiver } from 'ws';
import { textFrame } from '../../src/server/event-frames.js';
import { testServer } from '../support/runtime.js';
import { TestSocket, api, assertContiguous } from './routes/jobs-helpers.js';

type T = Awaited<ReturnType<typeof testServer>>;

/** Parses frames with ws's own receiver (the client side of the protocol). */
function parseFrames(bytes: Buffer): string[] {
  const out: string[] = [];
  const receiver = new Receiver({ isServer: false });
  receiver.on('message', (data: Buffer) => out.push(data.toString()));
  receiver.write(bytes);
  return out;
}

describe('WebSocket fan-out (push-mode subscriptions, pre-built frames)', () => {
  let t: T | undefined;
  const sockets: TestSocket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    await t?.close();
    t = undefined;
  });

  it('frames every payload size the way a ws client reads it (7-bit, 16-bit and 64-bit lengths)', () => {
    const sizes = [0, 125, 126, 65_535, 65_536, 200_000];
    const payloads = sizes.map((n, i) => JSON.stringify({ i, pad: 'x'.repeat(Math.max(0, n - 20)) }).slice(0, Math.max(n, 2)));
    const bytes = Buffer.concat(payloads.map((p) => textFrame(Buffer.from(p))));
    expect(parseFrames(bytes)).toEqual(payloads);
  });

  it('40 sockets × 3 jobs: every socket gets every event of every job once, in order, then the end', async () => {
    t = await testServer({ server: { streams: { maxSocketsPerKey: 64 } } });
    const ids: string[] = [];
    // Started after a delay, so that every socket has subscribed before the first progress event.
    for (let j = 0; j < 3; j++)
      ids.push((await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 300, ms: 0 }, delayMs: 1_500 })).body.id);
    for (let i = 0; i < 40; i++) {
      const s = new TestSocket(`${t.url.replace('http', 'ws')}/v1/ws`);
      sockets.push(s);
      await s.opened();
      // Half of them join after the first event (fromSeq 1: everything after `enqueued`).
      for (const id of ids) s.send({ op: 'subscribe', jobId: id, fromSeq: i % 2 === 0 ? 0 : 1 });
    }
    for (const s of sockets) {
      await s.until(() => s.messages.filter((m) => m.type === 'unsubscribed').length === 3, 'three ended subscriptions', 60_000);
    }
    for (const [i, s] of sockets.entries()) {
      for (const id of ids) {
        const events = s.events(id);
        const from = i % 2 === 0 ? 0 : 1;
        assertContiguous(events, from);
        // enqueued, started, 300 progress, succeeded
        expect(events.length).toBe(303 - from);
        expect(events.at(-1)!.type).toBe('succeeded');
        // The end of a subscription comes after its last event.
        const endAt = s.messages.findIndex((m) => m.type === 'unsubscribed' && m.jobId === id);
        const lastAt = s.messages.findIndex((m) => m.type === 'event' && m.event.jobId === id && m.event.type === 'succeeded');
        expect(endAt).toBeGreaterThan(lastAt);
        expect(s.messages[endAt]).toEqual({ type: 'unsubscribed', jobId: id, reason: 'ended' });
      }
    }
  });
});
