import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import type { ProviderConfig } from './schema.js';

/** Where the raw configuration comes from: the file, `.env`, TASKLANE_* variables, flags, and providers found by their API key variables. */

const AUTO_PROVIDERS: Array<{ name: string; env: string; type: ProviderConfig['type']; baseURL: string }> = [
  { name: 'openai', env: 'OPENAI_API_KEY', type: 'openai-compatible', baseURL: 'https://api.openai.com/v1' },
  { name: 'groq', env: 'GROQ_API_KEY', type: 'openai-compatible', baseURL: 'https://api.groq.com/openai/v1' },
  { name: 'openrouter', env: 'OPENROUTER_API_KEY', type: 'openai-compatible', baseURL: 'https://openrouter.ai/api/v1' },
  { name: 'mistral', env: 'MISTRAL_API_KEY', type: 'openai-compatible', baseURL: 'https://api.mistral.ai/v1' },
  { name: 'huggingface', env: 'HF_TOKEN', type: 'huggingface', baseURL: 'https://router.huggingface.co/v1' },
  { name: 'anthropic', env: 'ANTHROPIC_API_KEY', type: 'anthropic', baseURL: 'https://api.anthropic.com/v1' },
  { name: 'gemini', env: 'GEMINI_API_KEY', type: 'gemini', baseURL: 'https://generativelanguage.googleapis.com/v1beta' },
];

export function readDotenv(cwd: string, enabled: boolean): Record<string, string> {
  if (!enabled) return {};
  const path = resolve(cwd, '.env');
  if (!existsSync(path)) return {};
  return parseDotenv(readFileSync(path));
}

export function findDefaultFile(cwd: string): string | undefined {
  for (const name of ['tasklane.config.json', 'tasklane.config.yaml', 'tasklane.config.yml']) {
    if (existsSync(resolve(cwd, name))) return name;
  }
  return undefined;
}

export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `config file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); check --config / TASKLANE_CONFIG`,
      {
        code: 'TL_ERR_CONFIG_FILE',
        details: { file },
      },
    );
  }
  try {
    return /\.ya?ml$/i.test(file) ? (parseYaml(text) ?? {}) : JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message}`, {
      code: 'TL_ERR_CONFIG_FILE',
      details: { file },
    });
  }
}

export function hasKey(value: unknown, key: string): boolean {
  return typeof value === 'object' && value !== null && key in value;
}

export function applyEnvAndOverrides(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  overrides: { host?: string; port?: number; data?: string } | undefined,
  where: string,
): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${where}: the configuration must be an object, e.g. { "server": { "port": 8080 } }`);
  }
  const out = structuredClone(raw) as Record<string, any>;
  const server = (out.server = typeof out.server === 'object' && out.server !== null ? { ...out.server } : {});
  if (env.TASKLANE_HOST) server.host = env.TASKLANE_HOST;
  if (env.TASKLANE_PORT !== undefined && env.TASKLANE_PORT !== '') server.port = parsePort(env.TASKLANE_PORT, 'TASKLANE_PORT');
  if (env.TASKLANE_DATA) out.data = env.TASKLANE_DATA;
  if (overrides?.host !== undefined) server.host = overrides.host;
  if (overrides?.port !== undefined) server.port = overrides.port;
  if (overrides?.data !== undefined) out.data = overrides.data;
  return out;
}

export function parsePort(text: string, setting: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > 65_535) {
    throw new ConfigError(`${setting}: "${text}" is not a port; use a whole number from 0 to 65535 (0 picks a free port)`, {
      details: { setting },
    });
  }
  return n;
}

export function autoProviders(env: NodeJS.ProcessEnv): Record<string, ProviderConfig> {
  const out: Record<string, ProviderConfig> = {};
  for (const p of AUTO_PROVIDERS) {
    const keys: string[] = [];
    if (env[p.env]) keys.push(`env:${p.env}`);
    for (let i = 2; env[`${p.env}_${i}`]; i++) keys.push(`env:${p.env}_${i}`);
    // Anthropic continues an assistant prefill; the others are not assumed to.
    if (keys.length > 0)
      out[p.name] = {
        type: p.type,
        baseURL: p.baseURL,
        apiKeys: keys,
        prefill: p.type === 'anthropic',
        rateLimitScope: 'model',
        connections: 64,
      };
  }
  if (env.OLLAMA_HOST) {
    const host = /^https?:\/\//.test(env.OLLAMA_HOST) ? env.OLLAMA_HOST : `http://${env.OLLAMA_HOST}`;
    out.ollama = { type: 'ollama', baseURL: host.replace(/\/$/, ''), apiKeys: [], prefill: true, rateLimitScope: 'model', connections: 64 };
  }
  return out;
}
