/**
 * Traces (issue 17 point 4, DESIGN "Traces"): traceparent is continued and returned on every
 * request with or without an exporter; with telemetry.otlp.endpoint set, spans with the GenAI
 * conventions reach a real OTLP/HTTP receiver for a gateway call (request, retries and fallback,
 * lane tasks) and for a job that calls the AI from a worker thread, all in one trace under the
 * caller's traceparent, and no span carries key material.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime } from '../../src/index.js';
import { aiConfig } from '../ai/fixtures.js';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { LogCapture, tempDir, testServer } from '../support/runtime.js';

const AI_TASKS = fileURLToPath(new URL('../fixtures/jobs/ai-tasks.ts', import.meta.url));
const CLIENT_KEY = 'client-key-7f3a9c41d2e8b6a0';
const OTLP_TOKEN = 'otlp-token-5d1e2f3a4b6c7d8e';
/** Every secret of the configurations below: none may appear in a span. */
const SECRETS = ['key-a0', 'key-a1', 'key-b0', CLIENT_KEY, OTLP_TOKEN];
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;
const FORMAT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

let mock: MockProvider | undefined;
let receiver: OtlpReceiver | undefined;
let t: Awaited<ReturnType<typeof testServer>> | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
  await mock?.close();
  mock = undefined;
  await receiver?.close();
  receiver = undefined;
});

async function tracedGateway(extra: Record<string, unknown> = {}) {
  mock = await startMockProvider();
  receiver = await startOtlpReceiver();
  t = await testServer(
    {
      ...aiConfig(mock.url, { ai: { cache: { enabled: false } } }),
      server: { apiKeys: [CLIENT_KEY] },
      telemetry: {
        serviceName: 'tasklane-test',
        otlp: { endpoint: receiver.url, batchDelayMs: 50, headers: { authorization: 'env:OTLP_TOKEN' } },
      },
      ...extra,
    },
    { OTLP_TOKEN: `Bearer ${OTLP_TOKEN}` },
  );
  return { url: t.url, mock, receiver };
}

const byName = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);
const one = (spans: ReceivedSpan[], name: string): ReceivedSpan => {
  const found = byName(spans, name);
  expect(found, `spans named "${name}" among ${spans.map((s) => s.name).join(', ')}`).toHaveLength(1);
  return found[0]!;
};
const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId);

/** No attribute, event, status message or raw export body holds a secret. */
function expectNoSecrets(r: OtlpReceiver): void {
  const texts = r.spans.flatMap((s) => [
    s.name,
    ...Object.values(s.attributes).map(String),
    ...s.events.flatMap((e) => [e.name, ...Object.values(e.attributes).map(String)]),
    s.status.message ?? '',
  ]);
  for (const secret of SECRETS) {
    expect(texts.filter((x) => x.includes(secret))).toEqual([]);
    for (const body of r.bodies) expect(body.includes(secret)).toBe(false);
  }
}

describe('traceparent without an exporter', () => {
  it('is continued when valid, started when absent or invalid, and returned on answers, errors and streams', async () => {
    mock = await startMockProvider();
    t = await testServer({ ...aiConfig(mock.url), server: { apiKeys: [CLIENT_KEY] } });
    const auth = { authorization: `Bearer ${CLIENT_KEY}` };
    const post = (headers: Record<string, string>, body: unknown, path = '/v1/chat/completions') =>
      fetch(`${t!.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const chat = { model: 'chat', messages: [{ role: 'user', content: 'hello' }] };

    const continued = await post({ ...auth, traceparent: TRACEPARENT }, chat);
    expect(continued.status).toBe(200);
    const [, traceId, spanId, flags] = FORMAT.exec(continued.headers.get('traceparent') ?? '')!;
    expect(traceId).toBe(TRACE_ID);
    expect(spanId).not.toBe(PARENT_ID);
    expect(flags).toBe('01');

    const fresh = await fetch(`${t.url}/healthz`);
    const a = FORMAT.exec(fresh.headers.get('traceparent') ?? '');
    expect(a).not.toBeNull();
    const b = FORMAT.exec((await fetch(`${t.url}/healthz`)).headers.get('traceparent') ?? '')!;
    expect(b[1]).not.toBe(a![1]);

    for (const bad of [
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      'ff-' + TRACE_ID + '-' + PARENT_ID + '-01',
      'garbage',
      `00-${TRACE_ID}-${PARENT_ID}-01-extra`,
    ]) {
      const r = await fetch(`${t.url}/healthz`, { headers: { traceparent: bad } });
      const m = FORMAT.exec(r.headers.get('traceparent') ?? '')!;
      expect(m, bad).not.toBeNull();
      expect(m[1]).not.toBe(TRACE_ID);
    }

    const refused = await post({ authorization: 'Bearer not-a-key', traceparent: TRACEPARENT }, chat);
    expect(refused.status).toBe(401);
    expect(FORMAT.exec(refused.headers.get('traceparent') ?? '')?.[1]).toBe(TRACE_ID);

    const stream = await post({ ...auth, traceparent: TRACEPARENT }, { ...chat, stream: true });
    expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect(FORMAT.exec(stream.headers.get('traceparent') ?? '')?.[1]).toBe(TRACE_ID);
    expect(await stream.text()).toContain('[DONE]');

    const job = await fetch(`${t.url}/v1/jobs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', traceparent: TRACEPARENT },
      body: JSON.stringify({ task: 'demo.progress', input: { steps: 1, ms: 1 } }),
    });
    expect(job.status).toBe(201);
    expect(FORMAT.exec(job.headers.get('traceparent') ?? '')?.[1]).toBe(TRACE_ID);
    // Off, nothing is kept for traces in the job record.
    const made = (await job.json()) as { id: string; traceparent?: string };
    expect(made.traceparent).toBeUndefined();
    // Streams that write their own headers carry it too: job events, Messages, Responses.
    const events = await fetch(`${t.url}/v1/jobs/${made.id}/events`, { headers: { ...auth, traceparent: TRACEPARENT } });
    expect(FORMAT.exec(events.headers.get('traceparent') ?? '')?.[1]).toBe(TRACE_ID);
    await events.text();
    for (const [path, body] of [
      ['/v1/messages', { model: 'chat', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'hi' }] }],
      ['/v1/responses', { model: 'chat', stream: true, input: 'hi' }],
    ] as const) {
      const r = await post({ ...auth, traceparent: TRACEPARENT }, body, path);
      expect(r.headers.get('content-type'), path).toMatch(/text\/event-stream/);
      expect(FORMAT.exec(r.headers.get('traceparent') ?? '')?.[1], path).toBe(TRACE_ID);
      await r.text();
    }
  });
});

describe('spans sent to an OTLP receiver', () => {
  it('a gateway call: server span, GenAI request span, one span per attempt (retry, then fallback) and its lane task', async () => {
    const { url, mock, receiver } = await tracedGateway();
    // Provider a answers 503 with a message that quotes its key (as some upstreams do); b answers.
    // A request saying "reject" gets a 400 whose reason quotes the key: it reaches the caller and the span, scrubbed.
    mock.respond((call) => {
      if (JSON.stringify(call.body.messages).includes('reject'))
        return { status: 400, body: { error: { message: `Incorrect request for key ${call.key}`, type: 'invalid_request_error' } } };
      return call.key === 'key-b0'
        ? undefined
        : { status: 503, body: { error: { message: `overloaded, key ${call.key} is busy`, type: 'server_error' } } };
    });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0, defaultHeaders: { traceparent: TRACEPARENT } });
    const { data, response } = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'trace me' }], max_tokens: 50, temperature: 0 })
      .withResponse();
    expect(response.headers.get('x-tasklane-provider')).toBe('b');
    const attempts = Number(response.headers.get('x-tasklane-attempts'));
    expect(attempts).toBe(3);

    const spans = await receiver.waitFor((s) => s.some((x) => x.name === 'POST /v1/chat/completions') && byName(s, 'lane ai').length >= 3);
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([TRACE_ID]));
    const server = one(spans, 'POST /v1/chat/completions');
    expect(server.parentSpanId).toBe(PARENT_ID);
    expect(server.kind).toBe(2);
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/chat/completions',
      'http.response.status_code': 200,
    });
    expect(response.headers.get('traceparent')).toBe(`00-${TRACE_ID}-${server.spanId}-01`);
    expect(server.resource['service.name']).toBe('tasklane-test');

    const request = one(spans, 'chat chat');
    expect(request.parentSpanId).toBe(server.spanId);
    expect(request.kind).toBe(3);
    expect(request.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'chat',
      'gen_ai.request.max_tokens': 50,
      'gen_ai.request.temperature': 0,
      'gen_ai.provider.name': 'b',
      'gen_ai.response.model': 'gpt-mock',
      'gen_ai.response.id': data.id,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': data.usage!.prompt_tokens,
      'gen_ai.usage.output_tokens': data.usage!.completion_tokens,
      'tasklane.ai.attempts': 3,
    });

    const tries = childrenOf(spans, request).sort(
      (x, y) => Number(x.attributes['tasklane.ai.attempt']) - Number(y.attributes['tasklane.ai.attempt']),
    );
    expect(tries.map((s) => s.name)).toEqual(['chat gpt-mock', 'chat gpt-mock', 'chat gpt-mock']);
    expect(tries.map((s) => s.attributes['gen_ai.provider.name'])).toEqual(['a', 'a', 'b']);
    expect(tries.map((s) => s.attributes['tasklane.ai.outcome'])).toEqual(['server', 'server', 'ok']);
    expect(tries.map((s) => s.attributes['tasklane.ai.decision'])).toEqual([undefined, 'retry', 'fallback']);
    expect(tries.map((s) => s.attributes['tasklane.ai.after'])).toEqual([undefined, 'server', 'server']);
    expect(tries[0]!.attributes['http.response.status_code']).toBe(503);
    expect(tries[0]!.status.code).toBe(2);
    expect(tries[2]!.status.code ?? 0).not.toBe(2);
    for (const a of tries) {
      expect(a.kind).toBe(3);
      expect([0, 1]).toContain(a.attributes['tasklane.ai.key_index']);
      // Each attempt ran as one task of the `ai` lane, under the attempt.
      const [lane] = childrenOf(spans, a);
      expect(lane?.name).toBe('lane ai');
      expect(lane!.attributes['tasklane.lane.placement']).toBe('loop');
      expect(typeof lane!.attributes['tasklane.lane.queue_wait_ms']).toBe('number');
      expect(lane!.events.map((e) => e.name)).toContain('started');
    }

    // A stream: its request span ends with the stream and carries the final usage.
    const stream = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'stream and trace' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage = 0;
    for await (const c of stream) usage = c.usage?.prompt_tokens ?? usage;
    const after = await receiver.waitFor((s) => byName(s, 'chat chat').length === 2);
    const streamed = byName(after, 'chat chat').find((s) => s.spanId !== request.spanId)!;
    expect(streamed.attributes['gen_ai.usage.input_tokens']).toBe(usage);
    expect(streamed.events.map((e) => e.name)).toContain('first_chunk');

    // A final failure: the upstream's reason reaches the request span's status, with the key scrubbed.
    const failed = await client.chat.completions
      .create({ model: 'b/gpt-mock', messages: [{ role: 'user', content: 'reject' }] })
      .catch((e) => e);
    expect(failed.status).toBe(400);
    const withFailure = await receiver.waitFor((s) => s.some((x) => x.name === 'chat b/gpt-mock'));
    const failedSpan = one(withFailure, 'chat b/gpt-mock');
    expect(failedSpan.status.code).toBe(2);
    expect(failedSpan.status.message).toMatch(/Incorrect request for key \[redacted\]/);
    expect(String(failedSpan.attributes['error.type'])).toMatch(/^TL_ERR_/);
    expect(childrenOf(withFailure, failedSpan).map((s) => s.attributes['tasklane.ai.outcome'])).toEqual(['bad_request']);
    expect(receiver.requests.every((r) => r.headers.authorization === `Bearer ${OTLP_TOKEN}`)).toBe(true);
    expectNoSecrets(receiver);
  });

  it('a job that calls the AI from a worker thread: request, enqueue, attempt, thread lane task, AI call and its attempt, in one trace', async () => {
    const { url, receiver } = await tracedGateway({ jobs: { modules: [AI_TASKS], pollMs: 20 } });
    const auth = { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' };
    const res = await fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: { ...auth, traceparent: TRACEPARENT },
      body: JSON.stringify({ task: 'test.thread-ai', input: { text: 'from a thread' } }),
    });
    expect(res.status).toBe(201);
    const job = (await res.json()) as { id: string; traceparent?: string };
    let record: { state: string; result?: { threadId: number; traceparent?: string; usage?: { prompt_tokens: number } } } = {
      state: 'queued',
    };
    for (let i = 0; i < 800 && record.state !== 'succeeded' && record.state !== 'dead'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      record = (await (await fetch(`${url}/v1/jobs/${job.id}`, { headers: auth })).json()) as typeof record;
    }
    expect(record.state).toBe('succeeded');
    expect(record.result!.threadId).toBeGreaterThan(0);

    const spans = await receiver.waitFor((s) => s.some((x) => x.name === 'job test.thread-ai') && s.some((x) => x.name === 'lane data'));
    const inTrace = spans.filter((s) => s.traceId === TRACE_ID);
    const server = one(inTrace, 'POST /v1/jobs');
    expect(server.parentSpanId).toBe(PARENT_ID);
    const enqueue = one(inTrace, 'enqueue test.thread-ai');
    expect(enqueue.parentSpanId).toBe(server.spanId);
    expect(enqueue.kind).toBe(4);
    expect(enqueue.attributes['tasklane.job.id']).toBe(job.id);
    // The record carries the enqueue span's context: that is what crosses to the worker (and the fleet).
    expect(job.traceparent).toBe(`00-${TRACE_ID}-${enqueue.spanId}-01`);

    const attempt = one(inTrace, 'job test.thread-ai');
    expect(attempt.parentSpanId).toBe(enqueue.spanId);
    expect(attempt.kind).toBe(5);
    expect(attempt.attributes).toMatchObject({ 'tasklane.job.id': job.id, 'tasklane.job.attempt': 1, 'tasklane.job.outcome': 'succeeded' });

    const lane = one(inTrace, 'lane data');
    expect(lane.parentSpanId).toBe(attempt.spanId);
    expect(lane.attributes['tasklane.lane.placement']).toBe('thread');
    // The thread saw its lane span's context as ctx.traceparent.
    expect(record.result!.traceparent).toBe(`00-${TRACE_ID}-${lane.spanId}-01`);

    // The thread's ctx.ai call crossed to the main thread and went under the lane task's span.
    const call = one(inTrace, 'chat chat');
    expect(call.parentSpanId).toBe(lane.spanId);
    expect(call.attributes['gen_ai.usage.input_tokens']).toBe(record.result!.usage!.prompt_tokens);
    const [upstream] = childrenOf(inTrace, call);
    expect(upstream!.name).toBe('chat gpt-mock');
    expect(upstream!.attributes['tasklane.ai.outcome']).toBe('ok');
    expect(childrenOf(inTrace, upstream!).map((s) => s.name)).toEqual(['lane ai']);
    // Nested in time as in parentage (to the clock's resolution).
    for (const [outer, inner] of [
      [attempt, lane],
      [lane, call],
      [call, upstream!],
    ] as const) {
      // The SDK anchors each span's clock to Date.now() when it starts: spans may disagree by a millisecond.
      expect(inner.startMs).toBeGreaterThanOrEqual(outer.startMs - 2);
      expect(inner.endMs).toBeLessThanOrEqual(outer.endMs + 2);
    }

    // An array of jobs: one enqueue span each, under the request's span, each record carrying its own.
    const batch = await fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify([
        { task: 'demo.progress', input: { steps: 1, ms: 1 } },
        { task: 'demo.progress', input: { steps: 1, ms: 1 } },
      ]),
    });
    expect(batch.status).toBe(201);
    const made = ((await batch.json()) as { jobs: Array<{ id: string; traceparent: string }> }).jobs;
    const [, batchTrace, batchSpan] = FORMAT.exec(batch.headers.get('traceparent')!)!;
    const withBatch = await receiver.waitFor((s) => byName(s, 'enqueue demo.progress').length === 2);
    for (const job of made) {
      const span = byName(withBatch, 'enqueue demo.progress').find((s) => s.attributes['tasklane.job.id'] === job.id)!;
      expect(span.parentSpanId).toBe(batchSpan);
      expect(job.traceparent).toBe(`00-${batchTrace}-${span.spanId}-01`);
    }
    expectNoSecrets(receiver);
  });
});

describe('telemetry and reload', () => {
  it('a changed telemetry section is named as needing a restart, and the running tracer carries on', async () => {
    receiver = await startOtlpReceiver();
    const tmp = tempDir();
    const file = join(tmp.dir, 'tasklane.config.json');
    const save = (serviceName: string) =>
      writeFileSync(
        file,
        JSON.stringify({ data: tmp.dir, telemetry: { serviceName, otlp: { endpoint: receiver!.url, batchDelayMs: 50 } } }),
      );
    save('before');
    const runtime = await createRuntime({ file, env: {}, dotenv: false, cwd: tmp.dir, logDestination: new LogCapture() });
    try {
      save('after');
      const report = await runtime.reload();
      expect(report.restartRequired).toContain('telemetry');
      expect(report.applied).not.toContain('telemetry');
      runtime.tracing.start('still on').end();
    } finally {
      await runtime.close();
      tmp.remove();
    }
    // close() flushed the span, under the name the tracer was built with.
    expect(receiver.spans.find((s) => s.name === 'still on')?.resource['service.name']).toBe('before');
  });
});
