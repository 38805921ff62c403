/**
 * Issue 21 point 3: a revoked client key's open AI streams end with a clear reason, as its job
 * streams do. Alice holds a chat completions, a Messages and a Responses stream; a reload removes
 * her key: each stream ends with TL_ERR_AUTH_REVOKED in its own dialect's error form (never the
 * end marker of a whole answer), her upstream calls are aborted, and root's stream carries on.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, listen, type ConfigInput } from '../../src/index.js';
import { eventually } from '../support/fleet.js';
import { startMockProvider } from '../support/mock-provider.js';
import { LogCapture, tempDir } from '../support/runtime.js';

const ROOT = 'root-key-00000002';
const ALICE = 'alice-key-0000002';

describe('revoking a client key ends its AI streams', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('chat, Messages and Responses streams of the revoked key end with TL_ERR_AUTH_REVOKED; another key’s stream ends whole', async () => {
    const mock = await startMockProvider({ chunkDelayMs: 40 });
    cleanups.push(() => mock.close());
    mock.respond({ chunks: Array.from({ length: 60 }, (_, i) => `w${i} `) });
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const file = join(tmp.dir, 'tasklane.config.json');
    const save = (withAlice: boolean) =>
      writeFileSync(
        file,
        JSON.stringify({
          data: join(tmp.dir, 'data'),
          server: {
            port: 0,
            apiKeys: [{ key: ROOT, name: 'root' }, ...(withAlice ? [{ key: ALICE, name: 'alice', scopes: ['ai'] }] : [])],
          },
          providers: { m: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['provider-key-1'] } },
          models: { chat: [{ provider: 'm', model: 'gpt-mock' }] },
          ai: { cache: { enabled: false } },
        } satisfies ConfigInput),
      );
    save(true);
    const runtime = await createRuntime({ file, env: {}, dotenv: false, cwd: tmp.dir, logDestination: new LogCapture() });
    cleanups.push(() => runtime.close());
    const { url } = await listen(runtime);
    const post = (key: string, path: string, body: unknown) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // Four different requests, so no two share one upstream call (single-flight).
    const says = (text: string) => [{ role: 'user', content: text }];
    const streams = {
      chat: await post(ALICE, '/v1/chat/completions', { model: 'chat', stream: true, messages: says('alice chat') }),
      messages: await post(ALICE, '/v1/messages', { model: 'chat', stream: true, max_tokens: 500, messages: says('alice messages') }),
      responses: await post(ALICE, '/v1/responses', { model: 'chat', stream: true, input: 'alice responses' }),
      root: await post(ROOT, '/v1/chat/completions', { model: 'chat', stream: true, messages: says('root chat') }),
    };
    const text: Record<keyof typeof streams, string> = { chat: '', messages: '', responses: '', root: '' };
    const readers = Object.entries(streams).map(async ([name, res]) => {
      expect(res.status, name).toBe(200);
      const reader = res.body!.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text[name as keyof typeof streams] += new TextDecoder().decode(value);
      }
    });
    await eventually('every stream to carry its first words', () => Object.values(text).every((t) => t.includes('w1')), 10_000);

    save(false);
    const reload = await post(ROOT, '/v1/admin/reload', {});
    expect(reload.status).toBe(200);
    expect(((await reload.json()) as { applied: string[] }).applied).toContain('server.apiKeys');
    await Promise.all(readers);

    // Each in its dialect's error form, without the end marker of a whole answer.
    expect(text.chat).toMatch(/"code":"TL_ERR_AUTH_REVOKED"/);
    expect(text.chat).not.toContain('[DONE]');
    expect(text.chat).not.toContain('w59');
    expect(text.messages).toMatch(/event: error\ndata: \{[^\n]*"TL_ERR_AUTH_REVOKED"/);
    expect(text.messages).not.toContain('message_stop');
    expect(text.responses).toMatch(/event: response\.failed\ndata: \{[^\n]*"TL_ERR_AUTH_REVOKED"/);
    expect(text.responses).not.toContain('response.completed');
    // Root's stream is untouched and ends whole.
    expect(text.root).toContain('w59');
    expect(text.root).toContain('[DONE]');
    expect(text.root).not.toContain('TL_ERR_AUTH_REVOKED');
    // Alice's upstream calls were aborted, not left running to the end.
    await eventually('alice’s three upstream calls to be aborted', () => mock.calls.filter((c) => c.aborted).length === 3, 5_000);
    expect(mock.calls.filter((c) => !c.aborted)).toHaveLength(1);
    expect((await post(ALICE, '/v1/chat/completions', { model: 'chat', messages: says('again') })).status).toBe(401);
  }, 30_000);
});
