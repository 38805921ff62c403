/**
 * Three real server processes on one Redis: jobs spread over all three; a WebSocket client on one
 * process follows a job running on another without a hole; a 429 with Retry-After seen by one
 * process cools that key for the others.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/index.js';
import type { JobEvent, JobRecord } from '../../src/jobs/types.js';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { eventually, startNode, writeConfig, type FleetNode } from '../support/fleet.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../support/redis.js';
import { tempDir } from '../support/runtime.js';

const prefix = testPrefix('fleet');
const tmp = tempDir('tasklane-fleet-');
let mock: MockProvider;
const nodes: FleetNode[] = [];

async function api<T>(node: FleetNode, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path} on ${node.name}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Reads an SSE stream to its terminal event (bounded); `lastEventId` resumes after that seq. */
async function readSse(url: string, lastEventId: number): Promise<JobEvent[]> {
  const res = await fetch(url, { headers: { 'last-event-id': String(lastEventId) }, signal: AbortSignal.timeout(20_000) });
  if (!res.ok || !res.body) throw new Error(`SSE ${url}: ${res.status}`);
  const out: JobEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  const reader = res.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, at);
      buf = buf.slice(at + 2);
      const data = frame.split('\n').find((l) => l.startsWith('data: '));
      if (!data) continue;
      const event = JSON.parse(data.slice(6)) as JobEvent;
      out.push(event);
      if (['succeeded', 'dead', 'cancelled'].includes(event.type)) {
        await reader.cancel();
        return out;
      }
    }
  }
  return out;
}

beforeAll(async () => {
  await requireRedis();
  mock = await startMockProvider({ retryAfterSeconds: 30 });
  const config: ConfigInput = {
    server: { port: 0 },
    log: { level: 'warn' },
    store: { engine: 'redis', url: REDIS_URL, prefix },
    jobs: { leaseMs: 3_000, pollMs: 50 },
    // A small lane so no one process can take every job.
    lanes: { demo: { placement: 'loop', concurrency: 3, maxQueue: 100, timeoutMs: 60_000 } },
    providers: { mock: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['key-zero', 'key-one'] } },
    models: { m: [{ provider: 'mock', model: 'gpt-mock' }] },
    ai: { cache: { enabled: false } },
  };
  const started = await Promise.all(
    ['a', 'b', 'c'].map((name) => {
      const data = join(tmp.dir, name);
      mkdirSync(data, { recursive: true });
      return startNode(name, writeConfig(tmp.dir, name, { ...config, data }));
    }),
  );
  nodes.push(...started);
}, 90_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop('SIGTERM')));
  await mock?.close();
  await deleteKeys(prefix);
  tmp.remove();
}, 60_000);

describe('a fleet of three processes on one Redis', () => {
  it('every process is ready and jobs spread over all three', async () => {
    for (const n of nodes) expect(await api(n, 'GET', '/readyz')).toEqual({ status: 'ready' });
    const ids: string[] = [];
    for (let i = 0; i < 36; i++)
      ids.push((await api<JobRecord>(nodes[i % 3]!, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 3, ms: 50 } })).id);
    let done: JobRecord[] = [];
    await eventually(
      'all 36 jobs succeeded',
      async () => {
        done = (await api<{ jobs: JobRecord[] }>(nodes[0]!, 'GET', '/v1/jobs?state=succeeded&task=demo.progress&limit=500')).jobs.filter(
          (j) => ids.includes(j.id),
        );
        return done.length === 36;
      },
      40_000,
      200,
    );
    const byWorker = new Map<string, number>();
    for (const j of done) byWorker.set(j.workerId!, (byWorker.get(j.workerId!) ?? 0) + 1);
    expect([...byWorker.keys()].sort()).toEqual(nodes.map((n) => n.workerId).sort());
  }, 60_000);

  it('a WebSocket client and an SSE client on other processes follow a running job, with no hole', async () => {
    const steps = 40;
    const job = await api<JobRecord>(nodes[0]!, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps, ms: 40 } });
    let running!: JobRecord;
    await eventually('the job runs and has reported progress', async () => {
      running = await api<JobRecord>(nodes[1]!, 'GET', `/v1/jobs/${job.id}`);
      return running.state === 'running' && running.lastSeq >= 4;
    });
    // Follow from a process that does not run it, from seq 0 while it runs: stored gap, then live.
    const follower = nodes.find((n) => n.workerId !== running.workerId)!;
    const ws = new WebSocket(`${follower.url.replace('http', 'ws')}/v1/ws`);
    const events: JobEvent[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stream did not end; got ${events.map((e) => e.seq).join(',')}`)), 20_000);
      ws.on('message', (raw) => {
        const msg = JSON.parse(raw.toString()) as { type: string; event?: JobEvent; error?: unknown };
        if (msg.type === 'error') reject(new Error(JSON.stringify(msg)));
        if (msg.type === 'event') {
          events.push(msg.event!);
          if (['succeeded', 'dead', 'cancelled'].includes(msg.event!.type)) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
      ws.on('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ op: 'subscribe', jobId: job.id, fromSeq: 0 }));
    // SSE on the other process that does not run it, resuming after seq 2.
    const sseNode = nodes.find((n) => n.workerId !== running.workerId && n !== follower)!;
    const sse = readSse(`${sseNode.url}/v1/jobs/${job.id}/events`, 2);
    await ended;
    ws.close();
    const sseEvents = await sse;
    expect(sseEvents.map((e) => e.seq)).toEqual(events.slice(2).map((e) => e.seq));
    expect(sseEvents).toEqual(events.slice(2));
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
    expect(events[0]!.type).toBe('enqueued');
    expect(events.at(-1)!.type).toBe('succeeded');
    expect(events.filter((e) => e.type === 'progress').map((e) => (e.data as { step: number }).step)).toEqual(
      Array.from({ length: steps }, (_, i) => i + 1),
    );
    const final = await api<JobRecord>(follower, 'GET', `/v1/jobs/${job.id}`);
    expect(final.workerId).not.toBe(follower.workerId);
    expect(final.lastSeq).toBe(events.length);
  }, 40_000);

  it('a 429 with Retry-After seen by one process cools that key for the others', async () => {
    mock.reset();
    mock.faultForKey('key-zero', '429-always:30');
    const chat = (n: FleetNode) =>
      api<{ choices: unknown[] }>(n, 'POST', '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    // Process A meets the 429 on key-zero (it answers from key-one).
    await eventually(
      'process A tried key-zero',
      async () => {
        await chat(nodes[0]!);
        return mock.callsByKey('key-zero').length > 0;
      },
      10_000,
      10,
    );
    const hits = mock.callsByKey('key-zero').length;
    expect(hits).toBeGreaterThanOrEqual(1);
    // The cooldown reaches the others through Redis.
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 6; i++) {
      await chat(nodes[1]!);
      await chat(nodes[2]!);
    }
    expect(mock.callsByKey('key-zero').length).toBe(hits);
    expect(mock.callsByKey('key-one').length).toBeGreaterThanOrEqual(12);
  }, 40_000);
});
