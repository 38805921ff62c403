/**
 * Reload without a restart (POST /v1/admin/reload here; SIGHUP in test/cli/reload.test.ts): keys
 * and routes change at once, what is running keeps what it started with, revoked keys are cut
 * off, and a broken file changes nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, listen, type ConfigInput } from '../../src/index.js';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { LogCapture, tempDir } from '../support/runtime.js';
import { TestSocket } from './routes/jobs-helpers.js';

const ROOT = 'root-key-00000001';
const ALICE = 'alice-key-0000001';

describe('configuration reload', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(write: (dir: string) => ConfigInput) {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const file = join(tmp.dir, 'tasklane.config.json');
    const save = (config: ConfigInput) =>
      writeFileSync(file, JSON.stringify({ data: join(tmp.dir, 'data'), server: { port: 0 }, ...config }));
    save(write(tmp.dir));
    const logs = new LogCapture();
    const runtime = await createRuntime({ file, env: {}, dotenv: false, cwd: tmp.dir, logDestination: logs });
    cleanups.push(() => runtime.close());
    const server = await listen(runtime);
    const call = (key: string, method: string, path: string, body?: unknown) =>
      fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const reload = async () => {
      const res = await call(ROOT, 'POST', '/v1/admin/reload');
      return { status: res.status, body: (await res.json()) as any };
    };
    return { dir: tmp.dir, file, save, runtime, url: server.url, call, reload, logs };
  }

  it('rotates a provider key while a stream runs: the stream ends whole on the old key, the next call uses the new one', async () => {
    const mock: MockProvider = await startMockProvider({ chunkDelayMs: 40 });
    cleanups.push(() => mock.close());
    mock.respond({ chunks: Array.from({ length: 25 }, (_, i) => `w${i} `) });
    const config = (dir: string, key: string): ConfigInput => {
      writeFileSync(join(dir, 'provider.key'), `${key}\n`);
      return {
        server: { port: 0, apiKeys: [{ key: ROOT, name: 'root' }] },
        providers: { m: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['file:provider.key'] } },
        models: { chat: [{ provider: 'm', model: 'gpt-mock' }] },
        ai: { cache: { enabled: false } },
      };
    };
    let dir = '';
    const t = await start((d) => ((dir = d), config(d, 'provider-key-old')));
    const res = await t.call(ROOT, 'POST', '/v1/chat/completions', {
      model: 'chat',
      stream: true,
      messages: [{ role: 'user', content: 'go' }],
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('w0');

    // The key file changes (the secret rotated) and the config is read again mid-stream.
    t.save(config(dir, 'provider-key-new'));
    const r = await t.reload();
    expect(r.status).toBe(200);
    expect(r.body.applied).toContain('providers.m.apiKeys');
    expect(r.body.restartRequired).toEqual([]);

    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toContain('w24');
    expect(rest).toContain('[DONE]');
    expect(mock.calls.map((c) => c.key)).toEqual(['provider-key-old']);

    const next = await t.call(ROOT, 'POST', '/v1/chat/completions', { model: 'chat', messages: [{ role: 'user', content: 'again' }] });
    expect(next.status).toBe(200);
    expect(mock.calls.map((c) => c.key)).toEqual(['provider-key-old', 'provider-key-new']);
    // The new secret is redacted like the old one.
    expect(t.runtime.scrub('x provider-key-new y')).toBe('x [redacted] y');
  }, 30_000);

  it('revokes a client key: its next request is 401, its two open streams end with TL_ERR_AUTH_REVOKED, others carry on', async () => {
    const keys = (withAlice: boolean) => ({
      server: {
        port: 0,
        apiKeys: [
          { key: ROOT, name: 'root' },
          ...(withAlice ? [{ key: ALICE, name: 'alice', scopes: ['jobs:read', 'jobs:write'] as const }] : []),
        ],
      },
    });
    const t = await start(() => keys(true) as ConfigInput);
    const submit = async (key: string) => {
      const res = await t.call(key, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 1, ms: 0 }, delayMs: 3_600_000 });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    const aliceJob = await submit(ALICE);
    const rootJob = await submit(ROOT);
    // Alice: one SSE stream and one WebSocket; root: one SSE stream.
    const aliceSse = await t.call(ALICE, 'GET', `/v1/jobs/${aliceJob}/events`);
    const rootSse = await t.call(ROOT, 'GET', `/v1/jobs/${rootJob}/events`);
    expect([aliceSse.status, rootSse.status]).toEqual([200, 200]);
    const socket = new TestSocket(`${t.url.replace('http', 'ws')}/v1/ws`, { authorization: `Bearer ${ALICE}` });
    cleanups.push(() => socket.close());
    await socket.opened();
    socket.send({ op: 'subscribe', jobId: aliceJob });
    await socket.until(() => socket.messages.some((m) => m.type === 'subscribed'), 'the subscription');
    const token = ((await (await t.call(ALICE, 'POST', '/v1/tokens', {})).json()) as { token: string }).token;

    t.save(keys(false) as ConfigInput);
    const r = await t.reload();
    expect(r.status).toBe(200);
    expect(r.body.applied).toContain('server.apiKeys');

    const sseText = await aliceSse.text();
    expect(sseText).toMatch(/event: error\ndata: \{"code":"TL_ERR_AUTH_REVOKED"/);
    await socket.until(() => socket.closed !== undefined, 'the socket to close');
    expect(socket.closed).toEqual({ code: 4401, reason: 'TL_ERR_AUTH_REVOKED' });
    expect(socket.messages.at(-1)).toMatchObject({ type: 'error', error: { code: 'TL_ERR_AUTH_REVOKED' } });

    const refused = await t.call(ALICE, 'GET', '/v1/jobs');
    expect(refused.status).toBe(401);
    // A token minted with the revoked key opens nothing either.
    const viaToken = await fetch(`${t.url}/v1/jobs/${aliceJob}/events?token=${token}`);
    expect(viaToken.status).toBe(401);
    expect(((await viaToken.json()) as any).error.code).toBe('TL_ERR_AUTH_REVOKED');
    // Root's stream is still open: cancelling its job ends it normally.
    expect((await t.call(ROOT, 'POST', `/v1/jobs/${rootJob}/cancel`, {})).status).toBe(200);
    const rootText = await rootSse.text();
    expect(rootText).toContain('event: cancelled');
    expect(rootText).not.toContain('TL_ERR_AUTH_REVOKED');
  }, 30_000);

  it('changes routes and the rate limit at once', async () => {
    const mock: MockProvider = await startMockProvider();
    cleanups.push(() => mock.close());
    const cfg = (alias: string, rateLimit?: { perSecond: number; burst: number }): ConfigInput => ({
      server: { port: 0, apiKeys: [{ key: ROOT, name: 'root' }], ...(rateLimit ? { rateLimit } : {}) },
      providers: { m: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['mk-0000'] } },
      models: { [alias]: [{ provider: 'm', model: 'gpt-mock' }] },
      ai: { cache: { enabled: false } },
    });
    const t = await start(() => cfg('old-alias'));
    const chat = (model: string) => t.call(ROOT, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }] });
    expect((await chat('old-alias')).status).toBe(200);
    t.save(cfg('new-alias', { perSecond: 0.001, burst: 3 }));
    const r = await t.reload();
    expect(r.body.applied).toEqual(expect.arrayContaining(['models', 'server.rateLimit']));
    expect((await chat('new-alias')).status).toBe(200);
    expect((await chat('old-alias')).status).toBe(404);
    // The new bucket (3 requests, then one per 1000 s) is spent after a few more requests: a 429.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await t.call(ROOT, 'GET', '/v1/jobs')).status);
    expect(statuses).toContain(429);
  }, 30_000);

  it('refuses a broken file listing every problem and keeps the running configuration; names what needs a restart', async () => {
    const good = {
      server: {
        port: 0,
        apiKeys: [
          { key: ROOT, name: 'root' },
          { key: ALICE, name: 'alice' },
        ],
      },
    } as ConfigInput;
    const t = await start(() => good);
    // Three problems at once: an unknown setting, a bad type, a missing secret file.
    writeFileSync(
      t.file,
      JSON.stringify({
        server: { port: 0, apiKeys: [{ key: ROOT, name: 'root' }, 'file:/no/such/secret'], maxStreamsPerKey: 'many', bogus: 1 },
      }),
    );
    const r = await t.reload();
    expect(r.status).toBe(500);
    expect(r.body.error.code).toMatch(/^TL_ERR_CONFIG_/);
    expect(r.body.error.message).toMatch(/reload refused, the running configuration stays: \d+ problems/);
    expect(r.body.error.message).toContain('maxStreamsPerKey');
    expect(r.body.error.message).toContain('bogus');
    // Both keys still work: nothing was applied.
    expect((await t.call(ALICE, 'GET', '/v1/jobs')).status).toBe(200);

    writeFileSync(t.file, 'not json {');
    const garbled = await t.reload();
    expect(garbled.status).toBe(500);
    expect(garbled.body.error.message).toContain('is not valid JSON');
    expect((await t.call(ALICE, 'GET', '/v1/jobs')).status).toBe(200);

    // A valid file that moves the port and the store: applied is empty, both named.
    writeFileSync(
      t.file,
      JSON.stringify({
        data: join(t.dir, 'elsewhere'),
        server: {
          port: 1,
          apiKeys: [
            { key: ROOT, name: 'root' },
            { key: ALICE, name: 'alice' },
          ],
        },
      }),
    );
    const moved = await t.reload();
    expect(moved.status).toBe(200);
    expect(moved.body.applied).toEqual([]);
    expect(moved.body.restartRequired).toEqual(expect.arrayContaining(['server.port', 'data']));
    // Only admin keys may reload.
    writeFileSync(
      t.file,
      JSON.stringify({
        server: {
          port: 0,
          apiKeys: [
            { key: ROOT, name: 'root' },
            { key: ALICE, name: 'alice', scopes: ['jobs:read'] },
          ],
        },
      }),
    );
    expect((await t.reload()).status).toBe(200);
    expect((await t.call(ALICE, 'POST', '/v1/admin/reload')).status).toBe(403);
  }, 30_000);
});
