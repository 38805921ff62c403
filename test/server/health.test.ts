import { afterEach, describe, expect, it } from 'vitest';
import { testServer } from '../support/runtime.js';

describe('health, readiness, metrics and auth', () => {
  let t: Awaited<ReturnType<typeof testServer>> | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('reports liveness with loop delay and utilization', async () => {
    t = await testServer();
    const res = await fetch(`${t.url}/healthz`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.status).toBe('ok');
    expect(body.loop.delayMs).toEqual(
      expect.objectContaining({ p50: expect.any(Number), p99: expect.any(Number), max: expect.any(Number) }),
    );
    expect(body.loop.utilization).toBeGreaterThanOrEqual(0);
    expect(body.loop.utilization).toBeLessThanOrEqual(1);
  });

  it('is ready while running and answers 503 shutting_down while closing', async () => {
    t = await testServer();
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    // A closer that holds the close open lets us observe the closing state over HTTP.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    t.runtime.onClose('held', () => held);
    const closing = t.runtime.close();
    const res = await fetch(`${t.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'shutting_down' });
    release();
    await closing;
  });

  it('exposes Prometheus metrics with loop and HTTP figures', async () => {
    t = await testServer();
    await fetch(`${t.url}/healthz`);
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/tasklane_loop_delay_ms\{quantile="0.99"\}/);
    expect(text).toMatch(/tasklane_loop_utilization/);
    expect(text).toMatch(/tasklane_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1/);
  });

  it('needs a client key on every other route: 401 without and with a wrong key', async () => {
    t = await testServer({ server: { apiKeys: ['client-key-1234'] } });
    const none = await fetch(`${t.url}/v1/anything`);
    expect(none.status).toBe(401);
    expect((await none.json()).error.code).toBe('TL_ERR_AUTH_MISSING');
    const wrong = await fetch(`${t.url}/v1/anything`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).error.code).toBe('TL_ERR_AUTH_INVALID');
    const right = await fetch(`${t.url}/v1/anything`, { headers: { authorization: 'Bearer client-key-1234' } });
    expect(right.status).toBe(404);
    expect((await right.json()).error).toEqual({ code: 'TL_ERR_NOT_FOUND', message: 'no route GET /v1/anything' });
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});
