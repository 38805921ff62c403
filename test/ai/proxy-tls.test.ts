/**
 * Outbound proxies and private CAs, for real: an HTTPS mock provider whose certificate a private
 * CA (made with openssl here) signed, reachable only through a CONNECT proxy on loopback (its host
 * name resolves nowhere else).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/index.js';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { tempDir, testRuntime } from '../support/runtime.js';
import { connectProxy, makeCertificates, tlsFront } from '../support/tls-proxy.js';

const HOST = 'model.tasklane-proxy.test';
const ask = { model: 'chat', messages: [{ role: 'user' as const, content: 'through the proxy' }] };

describe('provider calls through a proxy, trusting a private CA', () => {
  let mock: MockProvider;
  let front: Awaited<ReturnType<typeof tlsFront>>;
  let proxy: Awaited<ReturnType<typeof connectProxy>>;
  let certs: ReturnType<typeof makeCertificates>;
  const tmp = tempDir();
  beforeAll(async () => {
    certs = makeCertificates(tmp.dir, HOST);
    mock = await startMockProvider();
    front = await tlsFront(Number(new URL(mock.url).port), certs);
    proxy = await connectProxy({ [HOST]: '127.0.0.1' });
  });
  afterAll(async () => {
    await proxy?.close();
    await front?.close();
    await mock?.close();
    tmp.remove();
  });

  const provider = (extra: Record<string, unknown> = {}) => ({
    type: 'openai-compatible',
    baseURL: `https://${HOST}:${front.port}/v1`,
    apiKeys: ['proxy-test-key'],
    ...extra,
  });
  const config = (providers: Record<string, unknown>, route: Array<{ provider: string; model: string }>): ConfigInput =>
    ({
      providers,
      models: { chat: route },
      ai: { maxAttempts: 1, cache: { enabled: false }, timeouts: { connectMs: 2_000, firstByteMs: 3_000, totalMs: 5_000 } },
    }) as ConfigInput;
  async function chat(cfg: ConfigInput, env: NodeJS.ProcessEnv = {}) {
    const t = await testRuntime(cfg, env);
    try {
      return await t.runtime.ai.chat(ask).then(
        (r) => ({ ok: true as const, text: r.completion.choices[0]!.message.content, meta: r.meta }),
        (err: { code: string; message: string }) => ({ ok: false as const, code: err.code, message: err.message }),
      );
    } finally {
      await t.close();
    }
  }

  it('a per-provider proxy and tls.ca: the call tunnels through the proxy and verifies the private CA', async () => {
    const before = proxy.connects.length;
    const r = await chat(
      config({ p: provider({ proxy: proxy.url, tls: { ca: `file:${certs.caFile}` } }) }, [{ provider: 'p', model: 'gpt-mock' }]),
    );
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(proxy.connects.slice(before)).toEqual([`${HOST}:${front.port}`]);
    expect(mock.calls.at(-1)?.key).toBe('proxy-test-key');
  });

  it('HTTPS_PROXY from the environment, with NO_PROXY sending a loopback provider direct', async () => {
    const before = proxy.connects.length;
    const env = { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1,localhost' };
    const tunnel = await chat(
      config({ p: provider({ tls: { ca: `file:${certs.caFile}` } }) }, [{ provider: 'p', model: 'gpt-mock' }]),
      env,
    );
    expect(tunnel.ok, JSON.stringify(tunnel)).toBe(true);
    expect(proxy.connects.slice(before)).toEqual([`${HOST}:${front.port}`]);
    const direct = await chat(
      config({ d: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['direct-key'] } }, [
        { provider: 'd', model: 'gpt-mock' },
      ]),
      env,
    );
    expect(direct.ok, JSON.stringify(direct)).toBe(true);
    expect(proxy.connects.length).toBe(before + 1);
  });

  it('fails without the CA (self-signed for Node), and without the proxy (the name resolves nowhere else)', async () => {
    const calls = mock.calls.length;
    let connects = proxy.connects.length;
    const noCa = await chat(config({ p: provider({ proxy: proxy.url }) }, [{ provider: 'p', model: 'gpt-mock' }]));
    expect(noCa.ok).toBe(false);
    // The tunnel opened; TLS refused the certificate, so no request reached the provider.
    expect(proxy.connects.length).toBeGreaterThan(connects);
    expect(mock.calls.length).toBe(calls);
    connects = proxy.connects.length;
    const noProxy = await chat(
      config({ p: provider({ proxy: false, tls: { ca: `file:${certs.caFile}` } }) }, [{ provider: 'p', model: 'gpt-mock' }]),
      { HTTPS_PROXY: proxy.url },
    );
    expect(noProxy.ok).toBe(false);
    expect(proxy.connects.length).toBe(connects);
    expect(mock.calls.length).toBe(calls);
  });

  it('refuses a proxy that is not an http(s) URL and a tls.ca that is not PEM, naming the setting', async () => {
    await expect(
      testRuntime(config({ p: provider({ proxy: 'socks5://127.0.0.1:1080' }) }, [{ provider: 'p', model: 'gpt-mock' }])),
    ).rejects.toThrow(/providers\.p\.proxy: a proxy URL starts with http/);
    await expect(
      testRuntime(config({ p: provider({ tls: { ca: 'not a certificate' } }) }, [{ provider: 'p', model: 'gpt-mock' }])),
    ).rejects.toThrow(/providers\.p\.tls\.ca: not a PEM certificate/);
  });
});
