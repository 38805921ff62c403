/**
 * Provider panel: Ollama, OpenRouter and Mistral behind one orchestrator. Keys come from three
 * places — the environment (OpenRouter), `.env` (Ollama, behind an authenticating proxy) and a
 * secret file (Mistral) — and a missing one fails at start naming what to set. The orchestrator
 * owns one connection pool per provider; `close()` closes them all.
 */
import { z } from 'zod';
import { ValidationError, createRuntime, listen, type ConfigInput, type RoutePlugin, type Runtime } from '../../src/index.js';

export const PANEL_PROVIDERS = {
  ollama: { type: 'ollama', model: 'llama3.2', key: 'env:OLLAMA_API_KEY' },
  openrouter: { type: 'openai-compatible', model: 'meta-llama/llama-3.1-8b-instruct', key: 'env:OPENROUTER_API_KEY' },
  mistral: { type: 'openai-compatible', model: 'mistral-small-latest', key: 'file:secrets/mistral.key' },
} as const;

export type PanelProvider = keyof typeof PANEL_PROVIDERS;

/** The configuration for the three providers at these base URLs. */
export function panelConfig(baseURLs: Record<PanelProvider, string>): ConfigInput {
  const providers: NonNullable<ConfigInput['providers']> = {};
  for (const [name, p] of Object.entries(PANEL_PROVIDERS) as Array<[PanelProvider, (typeof PANEL_PROVIDERS)[PanelProvider]]>) {
    providers[name] = { type: p.type, baseURL: baseURLs[name], apiKeys: [p.key], models: [p.model] };
  }
  return {
    providers,
    // One alias over all three, in the panel's preference order.
    models: {
      panel: (Object.keys(PANEL_PROVIDERS) as PanelProvider[]).map((name) => ({ provider: name, model: PANEL_PROVIDERS[name].model })),
    },
    ai: { timeouts: { connectMs: 2_000, firstByteMs: 10_000 } },
  };
}

const askBody = z
  .object({
    prompt: z.string().min(1).max(10_000),
    /** One provider, or every provider in turn through the `panel` route when absent. */
    provider: z.enum(Object.keys(PANEL_PROVIDERS) as [PanelProvider, ...PanelProvider[]]).optional(),
  })
  .strict();

export interface PanelOptions {
  baseURLs: Record<PanelProvider, string>;
  /** Folder holding `.env` and `secrets/` (relative `file:` keys resolve from here). */
  cwd: string;
  env?: NodeJS.ProcessEnv;
  config?: ConfigInput;
  logDestination?: { write(line: string): unknown };
}

export async function startPanel(options: PanelOptions): Promise<{ runtime: Runtime; url: string; close(): Promise<void> }> {
  const runtime = await createRuntime({
    config: { ...panelConfig(options.baseURLs), ...options.config },
    cwd: options.cwd,
    env: options.env,
    dotenv: true,
    logDestination: options.logDestination,
  });
  try {
    const server = await listen(runtime, { routes: [panelRoutes] });
    return { runtime, url: server.url, close: async () => void (await runtime.close()) };
  } catch (err) {
    await runtime.close();
    throw err;
  }
}

export const panelRoutes: RoutePlugin = async (app, { runtime }) => {
  /** The same checks as `tasklane doctor`, plus the orchestrator's view of keys and breakers. */
  app.get('/panel/providers', async () => ({
    checks: await runtime.checkProviders({ timeoutMs: 5_000 }),
    health: runtime.ai.health(),
  }));

  app.post('/panel/ask', async (req) => {
    const parsed = askBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ValidationError(`${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const { prompt, provider } = parsed.data;
    const model = provider ? `${provider}/${PANEL_PROVIDERS[provider].model}` : 'panel';
    const { completion, meta } = await runtime.ai.chat({ model, messages: [{ role: 'user', content: prompt }] });
    return {
      answer: completion.choices[0]?.message.content ?? '',
      provider: meta.provider,
      model: meta.model,
      keyIndex: meta.keyIndex,
      latencyMs: meta.latencyMs,
    };
  });
};
