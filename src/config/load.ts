import { createHash } from 'node:crypto';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, type ConfigInput, type ParsedConfig, type ProviderConfig } from './schema.js';
import { checkRedisUrl, providerNetwork, type ProviderNetwork } from './network.js';
import { resolveSecret } from './secrets.js';
import { applyEnvAndOverrides, autoProviders, findDefaultFile, hasKey, readConfigFile, readDotenv } from './sources.js';
import { withPricesFile } from './prices-file.js';

export interface ClientKey {
  /** The key itself, or its sha256 hex digest when `hashed`. */
  value: string;
  hashed: boolean;
  scopes: Array<'ai' | 'jobs:read' | 'jobs:write' | 'admin'>;
  /** Recorded as the owner of the jobs the key makes (unique among the keys). */
  name: string;
  tenant?: string;
  /** 'own': the key's own jobs; 'tenant': every job of its tenant. */
  sees: 'own' | 'tenant';
  /** Whether `x-tasklane-tenant` is honoured for this key. */
  tenantHeader: boolean;
  budget?: { usdPerDay?: number; usdPerMonth?: number };
  limits?: { requestsPerMinute?: number; tokensPerMinute?: number };
}

export type { ProviderNetwork } from './network.js';
export { parsePort } from './sources.js';

export interface ResolvedProvider extends Omit<ProviderConfig, 'apiKeys' | 'headers'> {
  apiKeys: string[];
  headers: Record<string, string>;
  /** Proxy and trusted CAs for this provider's calls (from `proxy`, `tls.ca` and the environment). */
  network?: ProviderNetwork;
}

/** The configuration the runtime uses: defaults applied, secrets resolved, paths absolute. */
export interface ResolvedConfig extends Omit<ParsedConfig, 'providers' | 'server'> {
  server: Omit<ParsedConfig['server'], 'apiKeys'> & { apiKeys: ClientKey[] };
  providers: Record<string, ResolvedProvider>;
  /** Absolute data folder. */
  dataDir: string;
  /** Folder relative paths in the config are resolved from. */
  baseDir: string;
  /** The config file read, if any. */
  file?: string;
  /** Every secret value, for redaction. */
  secrets: string[];
}

export interface LoadOptions {
  /** Config file (JSON or YAML). Default: TASKLANE_CONFIG, else ./tasklane.config.{json,yaml,yml} if present. */
  file?: string;
  /** An inline config, used instead of a file. */
  config?: ConfigInput;
  /** Environment; default process.env. `.env` in cwd is read on top of it without changing it. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Read `.env` from cwd. Default true. */
  dotenv?: boolean;
  /** Command-line overrides. */
  overrides?: { host?: string; port?: number; data?: string };
}

/** Loads, validates and resolves the configuration. Throws ConfigError naming the setting and the fix. */
export function loadConfig(options: LoadOptions = {}): ResolvedConfig {
  const cwd = options.cwd ?? process.cwd();
  const env: NodeJS.ProcessEnv = { ...readDotenv(cwd, options.dotenv !== false), ...(options.env ?? process.env) };
  let raw: unknown = options.config ?? {};
  let file: string | undefined;
  if (!options.config) {
    file = options.file ?? env.TASKLANE_CONFIG ?? findDefaultFile(cwd);
    if (file) {
      file = resolve(cwd, file);
      raw = readConfigFile(file);
    }
  }
  const baseDir = file ? dirname(file) : cwd;
  const where = file ?? 'the configuration';

  const input = applyEnvAndOverrides(raw, env, options.overrides, where);
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) throw zodToConfigError(parsed.error, where);
  const config = parsed.data;

  const secrets: string[] = [];
  // Every missing secret is named at once, not only the first: fixing one at a time is slow.
  const missing: ConfigError[] = [];
  const lookup = (value: string, setting: string): string => {
    try {
      return resolveSecret(value, setting, env, baseDir);
    } catch (err) {
      if (!(err instanceof ConfigError) || err.code !== 'TL_ERR_CONFIG_SECRET_MISSING') throw err;
      missing.push(err);
      return '';
    }
  };
  const secret = (value: string, setting: string): string => {
    const resolved = lookup(value, setting);
    if (resolved) secrets.push(resolved);
    return resolved;
  };

  const providersInput = hasKey(raw, 'providers') ? config.providers : autoProviders(env);
  const providers: Record<string, ResolvedProvider> = {};
  for (const [name, p] of Object.entries(providersInput)) {
    const apiKeys = p.apiKeys.map((k, i) => secret(k, `providers.${name}.apiKeys[${i}]`));
    const headers: Record<string, string> = {};
    for (const [h, v] of Object.entries(p.headers ?? {})) headers[h] = secret(v, `providers.${name}.headers.${h}`);
    const network = providerNetwork(
      name,
      p,
      env,
      (v, setting) => secret(v, setting),
      (v, setting) => lookup(v, setting),
    );
    providers[name] = { ...p, apiKeys, headers, ...(network ? { network } : {}) };
  }

  for (const [alias, route] of Object.entries(config.models)) {
    const targets = Array.isArray(route) ? route : route.targets;
    targets.forEach((t, i) => {
      if (!Object.hasOwn(providers, t.provider)) {
        throw new ConfigError(
          `models.${alias}[${i}].provider: no provider named "${t.provider}"; add providers.${t.provider} or use one of: ${Object.keys(providers).join(', ') || '(none configured)'}`,
          { details: { setting: `models.${alias}[${i}].provider` } },
        );
      }
    });
  }

  const names = new Set<string>();
  const apiKeys: ClientKey[] = config.server.apiKeys.map((entry, i) => {
    const k =
      typeof entry === 'string'
        ? {
            key: entry,
            scopes: undefined,
            name: undefined,
            tenant: undefined,
            sees: 'own' as const,
            tenantHeader: false,
            budget: undefined,
            limits: undefined,
          }
        : entry;
    const value = lookup(k.key, `server.apiKeys[${i}]`);
    const hashed = value.startsWith('sha256:');
    if (hashed && !/^sha256:[0-9a-f]{64}$/i.test(value)) {
      throw new ConfigError(`server.apiKeys[${i}]: a hashed key is "sha256:" followed by 64 hex digits; fix the value`, {
        details: { setting: `server.apiKeys[${i}]` },
      });
    }
    if (!hashed && value) secrets.push(value);
    const stored = hashed ? value.slice(7).toLowerCase() : value;
    const name = k.name ?? defaultKeyName(stored, hashed);
    if (value && names.has(name)) {
      throw new ConfigError(
        `server.apiKeys[${i}].name: "${name}" names another key too; give each key its own name (jobs are owned by name)`,
        {
          details: { setting: `server.apiKeys[${i}].name` },
        },
      );
    }
    names.add(name);
    if (k.sees === 'tenant' && k.tenant === undefined) {
      throw new ConfigError(`server.apiKeys[${i}].sees: "tenant" needs a tenant; set server.apiKeys[${i}].tenant or use sees: "own"`, {
        details: { setting: `server.apiKeys[${i}].sees` },
      });
    }
    const key: ClientKey = {
      value: stored,
      hashed,
      scopes: k.scopes ?? ['ai', 'jobs:read', 'jobs:write', 'admin'],
      name,
      sees: k.sees,
      tenantHeader: k.tenantHeader,
    };
    if (k.tenant !== undefined) key.tenant = k.tenant;
    if (k.budget) key.budget = k.budget;
    if (k.limits) key.limits = k.limits;
    return key;
  });

  let streams = config.server.streams;
  if (streams.tokenSecret !== undefined) {
    const tokenSecret = secret(streams.tokenSecret, 'server.streams.tokenSecret');
    if (tokenSecret && tokenSecret.length < 32) {
      throw new ConfigError(
        'server.streams.tokenSecret: use at least 32 characters (for example `openssl rand -hex 32`), from env:NAME or file:/path',
        {
          details: { setting: 'server.streams.tokenSecret' },
        },
      );
    }
    streams = { ...streams, tokenSecret };
  }

  let store = config.store;
  if (store.engine === 'redis') {
    const url = lookup(store.url, 'store.url');
    if (url) {
      const password = checkRedisUrl(url, 'store.url');
      // The whole URL and its password are scrubbed from every log line, error and metric.
      if (store.url.startsWith('env:') || store.url.startsWith('file:') || password) secrets.push(url);
      if (password) secrets.push(password, encodeURIComponent(password));
    }
    store = { ...store, url };
  }

  const otlp = config.telemetry.otlp;
  const otlpHeaders: Record<string, string> = {};
  for (const [h, v] of Object.entries(otlp.headers)) otlpHeaders[h] = secret(v, `telemetry.otlp.headers.${h}`);
  const telemetry = { ...config.telemetry, otlp: { ...otlp, headers: otlpHeaders } };

  if (missing.length === 1) throw missing[0]!;
  if (missing.length > 1) {
    throw new ConfigError(`${missing.length} secrets are missing:\n${missing.map((e) => `  - ${e.message}`).join('\n')}`, {
      code: 'TL_ERR_CONFIG_SECRET_MISSING',
      details: { settings: missing.map((e) => e.details.setting), missing: missing.map((e) => e.details) },
    });
  }

  const dataDir = isAbsolute(config.data) ? config.data : resolve(baseDir, config.data);
  const ai = withPricesFile(config.ai, baseDir);
  return { ...config, ai, server: { ...config.server, apiKeys, streams }, store, providers, telemetry, dataDir, baseDir, file, secrets };
}

/**
 * A key without a name is named after its digest: stable when keys are reordered or reloaded,
 * and 48 bits of a hash say nothing usable about the key itself.
 */
function defaultKeyName(value: string, hashed: boolean): string {
  const hex = hashed ? value : createHash('sha256').update(value).digest('hex');
  return `key-${hex.slice(0, 12)}`;
}

function zodToConfigError(error: ZodError, where: string): ConfigError {
  // Every problem at once: fixing them one start at a time is the slow way to learn a config.
  const problems = error.issues.map((issue) => {
    const setting = issue.path.join('.') || '(root)';
    const unknown = issue.code === 'unrecognized_keys';
    const problem = unknown ? `unknown setting ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
    const fix = unknown ? `remove it or check its spelling in ${where}` : `fix ${setting} in ${where}`;
    return { setting, text: `config ${setting}: ${problem}; ${fix}` };
  });
  const message =
    problems.length === 1
      ? problems[0]!.text
      : `config has ${problems.length} problems:\n${problems.map((p) => `  - ${p.text}`).join('\n')}`;
  return new ConfigError(message, {
    details: { setting: problems[0]!.setting, issues: error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
  });
}
