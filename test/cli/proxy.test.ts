/** `tasklane serve` with HTTPS_PROXY and NODE_EXTRA_CA_CERTS from its environment, as a company network sets them. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { tempDir } from '../support/runtime.js';
import { connectProxy, makeCertificates, tlsFront } from '../support/tls-proxy.js';
import { assertBuilt, startServe } from './cli-process.js';

const HOST = 'llm.tasklane-corp.test';

describe('tasklane serve behind a proxy with a private CA', () => {
  const tmp = tempDir();
  let mock: MockProvider;
  let front: Awaited<ReturnType<typeof tlsFront>>;
  let proxy: Awaited<ReturnType<typeof connectProxy>>;
  let caFile: string;
  beforeAll(async () => {
    assertBuilt('cli/serve.js');
    const certs = makeCertificates(tmp.dir, HOST);
    caFile = certs.caFile;
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

  it('reaches an HTTPS provider only the proxy can resolve, trusting NODE_EXTRA_CA_CERTS', async () => {
    const file = join(tmp.dir, 'tasklane.config.json');
    writeFileSync(
      file,
      JSON.stringify({
        data: join(tmp.dir, 'data'),
        server: { port: 0 },
        providers: { corp: { type: 'openai-compatible', baseURL: `https://${HOST}:${front.port}/v1`, apiKeys: ['corp-key-1234'] } },
        models: { chat: [{ provider: 'corp', model: 'gpt-mock' }] },
      }),
    );
    const serve = await startServe(['--config', file], {
      cwd: tmp.dir,
      env: { HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost', NODE_EXTRA_CA_CERTS: caFile },
    });
    try {
      const res = await fetch(`${serve.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hello corp' }] }),
      });
      const body = (await res.json()) as any;
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.choices[0].message.content).toContain('hello corp');
      expect(proxy.connects).toContain(`${HOST}:${front.port}`);
      expect(mock.calls.at(-1)?.key).toBe('corp-key-1234');
    } finally {
      await serve.stop();
    }
  }, 30_000);
});
