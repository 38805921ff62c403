/**
 * Seed 004: a provider manager leaked aiohttp sessions ("Unclosed client session"), closed its
 * loop under running calls, and hid missing keys behind "multiple fallback sources". Here keys
 * come from the environment, `.env` and a secret file; a missing one fails at start naming what
 * to set; `tasklane doctor` checks every provider; and after close() no socket stays open.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../../test/support/mock-provider.js';
import { LogCapture, tempDir } from '../../test/support/runtime.js';
import { PANEL_PROVIDERS, panelConfig, startPanel, type PanelProvider } from './app.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KEYS = { ollama: 'ollama-key-from-dotenv', openrouter: 'openrouter-key-from-env', mistral: 'mistral-key-from-file' } as const;
const NAMES = Object.keys(PANEL_PROVIDERS) as PanelProvider[];

function sockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

async function eventually(check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!check() && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
}

function doctor(config: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/tasklane.js'), 'doctor', '--config', config, '--timeout-ms', '3000'], {
      cwd,
      env: { PATH: process.env.PATH, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('provider-panel (seed 004)', () => {
  let mocks: Record<PanelProvider, MockProvider> | undefined;
  let app: Awaited<ReturnType<typeof startPanel>> | undefined;
  let tmp: ReturnType<typeof tempDir> | undefined;

  afterEach(async () => {
    await app?.close();
    if (mocks) await Promise.all(Object.values(mocks).map((m) => m.close()));
    tmp?.remove();
    app = mocks = tmp = undefined;
  });

  /** Three mock providers, a folder with `.env` (Ollama's key) and `secrets/mistral.key`. */
  async function setup(files: { dotenv?: string; mistralKey?: string | null } = {}) {
    const [ollama, openrouter, mistral] = await Promise.all(
      NAMES.map((n) =>
        startMockProvider({ models: [n === 'ollama' ? `${PANEL_PROVIDERS[n].model}:latest` : PANEL_PROVIDERS[n].model, 'other-model'] }),
      ),
    );
    mocks = { ollama: ollama!, openrouter: openrouter!, mistral: mistral! };
    tmp = tempDir('provider-panel-');
    writeFileSync(join(tmp.dir, '.env'), files.dotenv ?? `OLLAMA_API_KEY=${KEYS.ollama}\n`);
    if (files.mistralKey !== null) {
      mkdirSync(join(tmp.dir, 'secrets'));
      writeFileSync(join(tmp.dir, 'secrets/mistral.key'), `${files.mistralKey ?? KEYS.mistral}\n`);
    }
    const baseURLs = { ollama: mocks.ollama.url, openrouter: `${mocks.openrouter.url}/v1`, mistral: `${mocks.mistral.url}/v1` };
    return { baseURLs, dir: tmp.dir };
  }

  it('resolves keys from env, .env and a file, answers from each provider, and leaves no socket open after close()', async () => {
    const baseline = sockets();
    const { baseURLs, dir } = await setup();
    const logs = new LogCapture();
    app = await startPanel({
      baseURLs,
      cwd: dir,
      env: { OPENROUTER_API_KEY: KEYS.openrouter },
      config: { server: { port: 0 }, data: dir },
      logDestination: logs,
    });

    const status = (await fetch(`${app.url}/panel/providers`).then((r) => r.json())) as {
      checks: Array<{ provider: string; status: string; keyIndex: number; models: number; missingModels: string[] }>;
    };
    expect(status.checks.map((c) => [c.provider, c.status, c.keyIndex, c.models, c.missingModels])).toEqual(
      NAMES.map((n) => [n, 'ok', 0, 2, []]),
    );

    for (const provider of NAMES) {
      const res = await fetch(`${app.url}/panel/ask`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ provider, prompt: `hello ${provider}` }),
      });
      const body = (await res.json()) as { answer: string; provider: string; keyIndex: number };
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body).toMatchObject({ provider, keyIndex: 0 });
      expect(body.answer).toContain(`hello ${provider}`);
      // The upstream saw the key from its own source.
      const chats = mocks![provider].calls.filter((c) => c.path.endsWith('/chat/completions') || c.path === '/api/chat');
      expect(chats.map((c) => c.key)).toEqual([KEYS[provider]]);
    }
    // The `panel` route falls through to the next provider when the first one fails.
    mocks!.ollama.faultForKey(KEYS.ollama, '503-always');
    const fallback = (await fetch(`${app.url}/panel/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'anyone?' }),
    }).then((r) => r.json())) as { provider: string };
    expect(fallback.provider).toBe('openrouter');

    // Sockets are open now (keep-alive pools to three providers), and all go with close().
    expect(NAMES.some((n) => mocks![n].openConnections > 0)).toBe(true);
    const url = app.url;
    await app.close();
    app = undefined;
    await eventually(() => NAMES.every((n) => mocks![n].openConnections === 0) && sockets() <= baseline);
    for (const n of NAMES) expect(mocks![n].openConnections, `${n} connections`).toBe(0);
    expect(sockets()).toBeLessThanOrEqual(baseline);
    await expect(fetch(url)).rejects.toThrow();
    for (const key of Object.values(KEYS)) expect(logs.text).not.toContain(key);
  });

  it('fails at start naming the variable or file to set when a key is missing, and opens nothing', async () => {
    const baseline = sockets();
    const { baseURLs, dir } = await setup({ dotenv: '# no key here\n' });
    const start = (env: NodeJS.ProcessEnv) =>
      startPanel({ baseURLs, cwd: dir, env, config: { server: { port: 0 }, data: dir }, logDestination: new LogCapture() });

    // Every missing key is named in the one error, not only the first.
    await expect(start({})).rejects.toMatchObject({
      code: 'TL_ERR_CONFIG_SECRET_MISSING',
      message: expect.stringMatching(
        /secrets are missing:[\s\S]*set OLLAMA_API_KEY \(in the environment or \.env\)[\s\S]*set OPENROUTER_API_KEY/,
      ),
    });
    writeFileSync(join(dir, '.env'), `OLLAMA_API_KEY=${KEYS.ollama}\n`);
    await expect(start({})).rejects.toMatchObject({
      code: 'TL_ERR_CONFIG_SECRET_MISSING',
      message: expect.stringMatching(
        /providers\.openrouter\.apiKeys\[0\]: environment variable OPENROUTER_API_KEY is not set; set OPENROUTER_API_KEY/,
      ),
    });
    writeFileSync(join(dir, 'secrets/mistral.key'), '\n');
    await expect(start({ OPENROUTER_API_KEY: KEYS.openrouter })).rejects.toMatchObject({
      code: 'TL_ERR_CONFIG_SECRET_MISSING',
      message: expect.stringContaining(`secret file ${join(dir, 'secrets/mistral.key')} is empty`),
    });
    // Nothing was reached and nothing stays open.
    for (const n of NAMES) expect(mocks![n].calls).toHaveLength(0);
    expect(sockets()).toBeLessThanOrEqual(baseline);
  });

  it('tasklane doctor checks the three providers: exit 0 when all answer, 1 when one is down', async () => {
    if (!existsSync(join(ROOT, 'dist/cli/doctor.js')))
      throw new Error('dist/cli/doctor.js is missing: run `npm run build` first (npm test does)');
    const { baseURLs, dir } = await setup();
    const config = join(dir, 'tasklane.config.json');
    writeFileSync(config, JSON.stringify(panelConfig(baseURLs), null, 2));

    const ok = await doctor(config, dir, { OPENROUTER_API_KEY: KEYS.openrouter });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    for (const n of NAMES) expect(ok.stdout).toMatch(new RegExp(`^${n}\\s+\\S+\\s+#0\\s+ok\\s+\\d+\\s+\\d+ ms`, 'm'));
    for (const key of Object.values(KEYS)) expect(ok.stdout).not.toContain(key);

    await mocks!.mistral.close();
    const down = await doctor(config, dir, { OPENROUTER_API_KEY: KEYS.openrouter });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^mistral\s+\S+\s+#0\s+unreachable/m);
    expect(down.stdout).toContain('1 of 3 checks failed');

    const missing = await doctor(config, dir, {});
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('OPENROUTER_API_KEY');
  });
});
