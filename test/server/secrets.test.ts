import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { tempDir, testServer } from '../support/runtime.js';

// Known secret values: none of them may appear in any output of the run.
const SECRETS = {
  providerEnv: 'sk-provider-env-SECRET-0001',
  providerFile: 'sk-provider-file-SECRET-0002',
  providerBad: 'sk-provider-refused-SECRET-0003',
  client: 'tl-client-key-SECRET-0004',
};

describe('secrets never leave the server', () => {
  let mock: MockProvider;
  let t: Awaited<ReturnType<typeof testServer>>;
  const outputs: string[] = [];
  const auth = { authorization: `Bearer ${SECRETS.client}` };

  const record = async (res: Response): Promise<Response> => {
    const text = await res.text();
    outputs.push(`${res.status} ${JSON.stringify([...res.headers])} ${text}`);
    return new Response(text, { status: res.status, headers: res.headers });
  };

  const secretDir = tempDir('tasklane-secret-');
  const keyFile = join(secretDir.dir, 'provider.key');

  beforeAll(async () => {
    writeFileSync(keyFile, `${SECRETS.providerFile}\n`);
    mock = await startMockProvider();
    mock.badKeys.add(SECRETS.providerBad);
    t = await testServer(
      {
        server: { apiKeys: ['env:CLIENT_KEY'] },
        providers: {
          mock: {
            type: 'openai-compatible',
            baseURL: `${mock.url}/v1`,
            apiKeys: ['env:PROVIDER_KEY', `file:${keyFile}`, SECRETS.providerBad],
          },
        },
        models: {
          chat: [{ provider: 'mock', model: 'gpt-mock' }],
          limited: [{ provider: 'mock', model: 'gpt-mock@429-always' }],
          broken: [{ provider: 'mock', model: 'gpt-mock@503-always' }],
          cut: [{ provider: 'mock', model: 'gpt-mock@cut' }],
        },
        ai: { maxAttempts: 3, backoff: { baseMs: 1, maxMs: 5 } },
      },
      { PROVIDER_KEY: SECRETS.providerEnv, CLIENT_KEY: SECRETS.client },
    );
  });

  afterAll(async () => {
    await t?.close();
    await mock?.close();
    secretDir.remove();
  });

  it('keeps every key out of responses, headers, events, metrics, the overview and the logs', async () => {
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${t.url}${path}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }).then(record);
    const get = (path: string, headers: Record<string, string> = auth) => fetch(`${t.url}${path}`, { headers }).then(record);

    // Gateway: successes rotate over every key (the refused one gets disabled on the way).
    for (let i = 0; i < 6; i++)
      await post(
        '/v1/chat/completions',
        { model: 'chat', messages: [{ role: 'user', content: `hello ${i}` }] },
        { 'cache-control': 'no-cache' },
      );
    expect(mock.calls.some((c) => c.key === SECRETS.providerBad)).toBe(true);
    expect(mock.calls.some((c) => c.key === SECRETS.providerFile)).toBe(true);
    expect((await post('/v1/chat/completions', { model: 'broken', messages: [{ role: 'user', content: 'x' }] })).status).toBe(502);
    expect(
      (await post('/v1/chat/completions', { model: 'limited', messages: [{ role: 'user', content: 'x' }] })).status,
    ).toBeGreaterThanOrEqual(400);
    await post('/v1/chat/completions', { model: 'cut', stream: true, messages: [{ role: 'user', content: 'x' }] });
    await post('/v1/chat/completions', { model: 'nope', messages: [] });

    // Auth failures echo nothing of what was sent.
    await get('/v1/jobs', { authorization: `Bearer ${SECRETS.client}x` });

    // Jobs, their events over SSE and WebSocket.
    const job = await (await post('/v1/jobs', { task: 'demo.progress', input: { steps: 3, ms: 1 } })).json();
    await get(`/v1/jobs/${job.id}/events`);
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/v1/ws`, { headers: auth });
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', jobId: job.id, fromSeq: 0 })));
      ws.on('message', (data) => {
        outputs.push(String(data));
        if (String(data).includes('"unsubscribed"')) resolve();
      });
      ws.on('error', reject);
    });
    ws.close();
    await get(`/v1/jobs/${job.id}`);
    await get('/v1/jobs');

    // Operational surfaces.
    await get('/metrics', {});
    await get('/readyz', {});
    await get('/healthz', {});
    await get('/v1/models');
    await get('/v1/admin/overview');
    await get('/dashboard', {});

    outputs.push(...t.logs.lines);
    const everything = outputs.join('\n');
    // The run did produce the outputs the assertion is about (not an empty haystack).
    expect(everything).toContain('TL_ERR_AUTH_INVALID');
    expect(everything).toContain('tasklane_http_requests_total');
    expect(t.logs.lines.length).toBeGreaterThan(0);
    for (const [name, secret] of Object.entries(SECRETS)) expect(everything.includes(secret), `${name} leaked`).toBe(false);
  });
});
