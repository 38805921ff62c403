/**
 * Issue 18 point 7: an upstream error message is cut to 300 characters only after secrets are
 * replaced. Before, a key that straddled the cut left its first characters (`sk-mockENV…`) in the
 * answer and the logs, where no scrubber recognised them any more: env:, file: and header secrets alike.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { tempDir, testServer } from '../support/runtime.js';

const SECRETS = {
  env: 'sk-mockENV-straddle-0123456789abcdef',
  file: 'sk-mockFILE-straddle-0123456789abcdef',
  header: 'hdr-mockHEADER-straddle-0123456789abcdef',
};

describe('secrets are replaced before an upstream message is cut', () => {
  let mock: MockProvider;
  let t: Awaited<ReturnType<typeof testServer>>;
  const dir = tempDir('tasklane-cut-');
  const keyFile = join(dir.dir, 'key.txt');

  beforeAll(async () => {
    writeFileSync(keyFile, `${SECRETS.file}\n`);
    mock = await startMockProvider();
    t = await testServer(
      {
        providers: {
          envp: {
            type: 'openai-compatible',
            baseURL: `${mock.url}/v1`,
            apiKeys: ['env:MOCK_ENV_KEY'],
            headers: { 'x-org': 'env:MOCK_HEADER' },
          },
          filep: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: [`file:${keyFile}`] },
        },
        ai: { maxAttempts: 1 },
      },
      { MOCK_ENV_KEY: SECRETS.env, MOCK_HEADER: SECRETS.header },
    );
  });
  afterAll(async () => {
    await t?.close();
    await mock?.close();
    dir.remove();
  });

  for (const [which, model] of [
    ['env', 'envp/gpt'],
    ['file', 'filep/gpt'],
    ['header', 'envp/gpt'],
  ] as const) {
    for (const stream of [false, true]) {
      it(`an ${which} secret straddling character 300 of ${stream ? 'an in-stream error' : 'an error body'}`, async () => {
        const secret = SECRETS[which];
        // The secret starts 8 characters before the cut: cut first, "sk-mockE" would be left.
        const message = `${'x'.repeat(292)}${secret} and more text after it`;
        mock.respond(
          stream
            ? { raw: `data: ${JSON.stringify({ error: { message, code: 500 } })}\n\n`, contentType: 'text/event-stream' }
            : { status: 400, body: { error: { message, type: 'invalid_request_error' } } },
        );
        const res = await fetch(`${t.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] }),
        });
        // The answer (a body) or the log line of the failed attempt (a stream) quotes the message.
        const seen = `${await res.text()}\n${t.logs.text}`;
        expect(seen).toMatch(/x{200}\[redact/);
        expect(seen).not.toContain(secret.slice(0, 6));
        mock.reset();
      });
    }
  }
});
