/**
 * `npm run example -- provider-panel`. With OPENROUTER_API_KEY set (and OLLAMA_API_KEY in .env,
 * secrets/mistral.key in the working directory) it talks to the real services (Ollama at
 * OLLAMA_HOST or 127.0.0.1:11434); otherwise to three local mock providers, with their keys
 * written to a temporary folder the same three ways.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockProvider } from '../../test/support/mock-provider.js';
import { anySet, runMain } from '../shared/run-main.js';
import { PANEL_PROVIDERS, startPanel } from './app.js';

await runMain(
  async () => {
    const real = anySet(process.env, ['OPENROUTER_API_KEY']);
    const mocks = real ? [] : await Promise.all(Object.values(PANEL_PROVIDERS).map((p) => startMockProvider({ models: [p.model] })));
    let cwd = process.cwd();
    let env = process.env;
    let cleanup = () => undefined as void;
    if (!real) {
      cwd = mkdtempSync(join(tmpdir(), 'provider-panel-'));
      writeFileSync(join(cwd, '.env'), 'OLLAMA_API_KEY=mock-ollama-key\n');
      mkdirSync(join(cwd, 'secrets'));
      writeFileSync(join(cwd, 'secrets/mistral.key'), 'mock-mistral-key\n');
      env = { ...process.env, OPENROUTER_API_KEY: 'mock-openrouter-key' };
      cleanup = () => rmSync(cwd, { recursive: true, force: true });
    }
    const ollamaHost = process.env.OLLAMA_HOST
      ? /^https?:/.test(process.env.OLLAMA_HOST)
        ? process.env.OLLAMA_HOST
        : `http://${process.env.OLLAMA_HOST}`
      : 'http://127.0.0.1:11434';
    const baseURLs = real
      ? { ollama: ollamaHost, openrouter: 'https://openrouter.ai/api/v1', mistral: 'https://api.mistral.ai/v1' }
      : { ollama: mocks[0]!.url, openrouter: `${mocks[1]!.url}/v1`, mistral: `${mocks[2]!.url}/v1` };
    const app = await startPanel({
      baseURLs,
      cwd,
      env,
      config: {
        server: { port: Number(process.env.PORT ?? 0) },
        data: process.env.TASKLANE_DATA ?? join(process.cwd(), 'data/examples/provider-panel'),
      },
    });
    return {
      url: app.url,
      hints: [
        `curl -s ${app.url}/panel/providers`,
        `curl -s -X POST ${app.url}/panel/ask -H 'content-type: application/json' -d '{"provider":"mistral","prompt":"Hello"}'`,
        'failure scenario: ask a few times, then Ctrl+C: the panel counts its open sockets before and after close()',
        real
          ? 'providers: the real Ollama, OpenRouter and Mistral'
          : 'providers: three local mocks (set OPENROUTER_API_KEY, OLLAMA_API_KEY in .env and secrets/mistral.key for the real ones)',
      ],
      close: async () => {
        // The scenario that broke (a client session per call, leaked): count the sockets, close, count again.
        const before = openSockets();
        await app.close();
        await Promise.all(mocks.map((m) => m.close()));
        cleanup();
        // Closed handles leave the active list once their close callbacks ran: give them a turn.
        await new Promise((resolve) => setTimeout(resolve, 50));
        process.stdout.write(`closed: ${before} sockets were open, ${openSockets()} are left\n`);
      },
    };
  },
  {
    explain: (err) =>
      (err as { code?: string })?.code === 'TL_ERR_CONFIG_SECRET_MISSING'
        ? 'the real providers need OPENROUTER_API_KEY, OLLAMA_API_KEY (in .env) and secrets/mistral.key; unset OPENROUTER_API_KEY to run on local mocks'
        : undefined,
  },
);

/** TCP sockets and servers this process holds open (what a leaked client session would add to). */
function openSockets(): number {
  const info = process.getActiveResourcesInfo();
  return info.filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;
}
