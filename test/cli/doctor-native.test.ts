/**
 * `tasklane doctor`'s checks for the native Anthropic and Gemini providers: each key is tried on
 * the provider's own model list with its own key header (x-api-key, x-goog-api-key); a refused key
 * is reported by index, never shown.
 */
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/index.js';
import { checkProviders, formatChecks } from '../../src/ai/provider-checks.js';
import { LogCapture } from '../support/runtime.js';
import { createLogger } from '../../src/runtime/logger.js';

const GOOD = { anthropic: 'sk-ant-good-000001', gemini: 'AIza-good-000001' };
let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** Anthropic's GET /v1/models and Gemini's GET /v1beta/models, each checking its own key header. */
async function upstream(): Promise<{ url: string; seen: Array<{ path: string; header: string; key: string }> }> {
  const seen: Array<{ path: string; header: string; key: string }> = [];
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    const anthropic = path === '/v1/models';
    const header = anthropic ? 'x-api-key' : 'x-goog-api-key';
    const key = String(req.headers[header] ?? '');
    seen.push({ path, header, key });
    const ok = anthropic
      ? key === GOOD.anthropic && req.headers['anthropic-version'] === '2023-06-01'
      : path === '/v1beta/models' && key === GOOD.gemini;
    res.writeHead(ok ? 200 : anthropic ? 401 : 400, { 'content-type': 'application/json' });
    if (!ok)
      res.end(
        JSON.stringify(
          anthropic
            ? { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }
            : {
                error: {
                  code: 400,
                  message: 'API key not valid. Please pass a valid API key.',
                  status: 'INVALID_ARGUMENT',
                  details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }],
                },
              },
        ),
      );
    else
      res.end(
        JSON.stringify(
          anthropic
            ? {
                data: [
                  { id: 'claude-x', type: 'model' },
                  { id: 'claude-y', type: 'model' },
                ],
                has_more: false,
              }
            : { models: [{ name: 'models/gemini-x' }] },
        ),
      );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen };
}

describe('doctor checks Anthropic and Gemini keys', () => {
  it('lists models with each key and reports a refused key by index only', async () => {
    const up = await upstream();
    const config = loadConfig({
      config: {
        providers: {
          claude: {
            type: 'anthropic',
            baseURL: `${up.url}/v1`,
            apiKeys: ['env:ANTHROPIC_API_KEY', 'env:ANTHROPIC_API_KEY_2'],
            models: ['claude-x', 'claude-z'],
          },
          gem: { type: 'gemini', baseURL: `${up.url}/v1beta`, apiKeys: ['env:GEMINI_API_KEY', 'env:GEMINI_API_KEY_2'] },
        },
      },
      env: {
        ANTHROPIC_API_KEY: GOOD.anthropic,
        ANTHROPIC_API_KEY_2: 'sk-ant-bad-0000002',
        GEMINI_API_KEY: GOOD.gemini,
        GEMINI_API_KEY_2: 'AIza-bad-0000002',
      },
      dotenv: false,
    });
    const rows = await checkProviders(config, {
      log: createLogger({ level: 'silent', destination: new LogCapture() } as never),
      timeoutMs: 3_000,
    });
    expect(rows.map((r) => [r.provider, r.type, r.keyIndex, r.status, r.models])).toEqual([
      ['claude', 'anthropic', 0, 'ok', 2],
      ['claude', 'anthropic', 1, 'refused', 0],
      ['gem', 'gemini', 0, 'ok', 1],
      ['gem', 'gemini', 1, 'refused', 0],
    ]);
    expect(rows[0]!.missingModels).toEqual(['claude-z']);
    expect(up.seen.map((s) => s.header).sort()).toEqual(['x-api-key', 'x-api-key', 'x-goog-api-key', 'x-goog-api-key']);
    const table = formatChecks(rows);
    for (const secret of [...Object.values(GOOD), 'sk-ant-bad-0000002', 'AIza-bad-0000002']) expect(table).not.toContain(secret);
    expect(table).toContain('the key was refused');
  });
});
