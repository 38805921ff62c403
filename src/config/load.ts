import { createHash } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, type ConfigInput, type ParsedConfig, type ProviderConfig } from './schema.js';
import { resolveSecret } from './secrets.js';
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

/** How a provider's calls leave the process (the same shape as ProviderSettings.network in the provider spec). */
export interface ProviderNetwork {
  proxy?: string;
  proxyEnv?: { httpProxy?: string; httpsProxy?: string; noProxy?: string };
  ca?: string[];
}

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

const AUTO_PROVIDERS: Array<{ name: string; env: string; type: ProviderConfig['type']; baseURL: string }> = [
  { name: 'openai', env: 'OPENAI_API_KEY', type: 'openai-compatible', baseURL: 'https://api.openai.com/v1' },
  { name: 'groq', env: 'GROQ_API_KEY', type: 'openai-compatible', baseURL: 'https://api.groq.com/openai/v1' },
  { name: 'openrouter', env: 'OPENROUTER_API_KEY', type: 'openai-compatible', baseURL: 'https://openrouter.ai/api/v1' },
  { name: 'mistral', env: 'MISTRAL_API_KEY', type: 'openai-compatible', baseURL: 'https://api.mistral.ai/v1' },
  { name: 'huggingface', env: 'HF_TOKEN', type: 'huggingface', baseURL: 'https://router.huggingface.co/v1' },
  { name: 'anthropic', env: 'ANTHROPIC_API_KEY', type: 'anthropic', baseURL: 'https://api.anthropic.com/v1' },
  { name: 'gemini', env: 'GEMINI_API_KEY', type: 'gemini', baseURL: 'https://generativelanguage.googleapis.com/v1beta' },
];

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
 * A Redis URL a client can connect with, checked at load so a typo fails at start (exit 2) instead
 * of a server that never becomes ready. Returns the password it holds, if any. The message never
 * quotes the value (it may hold that password).
 */
function checkRedisUrl(url: string, setting: string): string | undefined {
  const fail = (problem: string): never => {
    throw new ConfigError(
      `${setting}: ${problem}; write it as redis://[user:password@]host:port[/db] (or rediss:// for TLS), literally or as env:NAME / file:/path`,
      {
        details: { setting },
      },
    );
  };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return fail('not a URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    fail(`the scheme is "${u.protocol.replace(/[^a-z0-9+.-:]/gi, '?').slice(0, 20)}", not redis: or rediss:`);
  if (!u.hostname) fail('no host');
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,5}$/.test(db)) fail('the database after the host must be a number, e.g. /0');
  if (!u.password) return undefined;
  try {
    return decodeURIComponent(u.password);
  } catch {
    return fail('the password is not valid URL encoding (write % as %25)');
  }
}

/**
 * How a provider's calls leave the process. An explicit `proxy` wins; `proxy: false` turns the
 * environment's off; otherwise HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case) as read now, left
 * to undici's EnvHttpProxyAgent to apply per call. `tls.ca` is added to the usual roots and to
 * NODE_EXTRA_CA_CERTS (Node adds that file only when no CA list is given, so it is read here too).
 */
function providerNetwork(
  name: string,
  p: ProviderConfig,
  env: NodeJS.ProcessEnv,
  secret: (value: string, setting: string) => string,
  lookup: (value: string, setting: string) => string,
): ProviderNetwork | undefined {
  const network: ProviderNetwork = {};
  const asProxy = (value: string, setting: string): string => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(`${setting}: not a URL; write the proxy as http://host:port (or https://)`, { details: { setting } });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`${setting}: a proxy URL starts with http:// or https://, not ${url.protocol}//`, { details: { setting } });
    }
    return value;
  };
  if (typeof p.proxy === 'string') {
    const value = secret(p.proxy, `providers.${name}.proxy`);
    if (value) network.proxy = asProxy(value, `providers.${name}.proxy`);
  } else if (p.proxy === undefined) {
    const httpsProxy = env.HTTPS_PROXY || env.https_proxy;
    const httpProxy = env.HTTP_PROXY || env.http_proxy;
    const noProxy = env.NO_PROXY || env.no_proxy;
    if (httpsProxy || httpProxy) {
      network.proxyEnv = {};
      if (httpsProxy) network.proxyEnv.httpsProxy = asProxy(httpsProxy, 'HTTPS_PROXY');
      if (httpProxy) network.proxyEnv.httpProxy = asProxy(httpProxy, 'HTTP_PROXY');
      if (noProxy) network.proxyEnv.noProxy = noProxy;
      // Credentials in a proxy URL are redacted like any secret.
      for (const u of [httpsProxy, httpProxy]) if (u && new URL(u).password) secret(new URL(u).password, 'a proxy password');
    }
  }
  if (p.tls?.ca) {
    const pem = lookup(p.tls.ca, `providers.${name}.tls.ca`);
    if (pem && !pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(`providers.${name}.tls.ca: not a PEM certificate; point it at a .pem file with file:/path`, {
        details: { setting: `providers.${name}.tls.ca` },
      });
    }
    const ca = [...rootCertificates];
    if (env.NODE_EXTRA_CA_CERTS) {
      try {
        ca.push(readFileSync(env.NODE_EXTRA_CA_CERTS, 'utf8'));
      } catch (err) {
        throw new ConfigError(
          `NODE_EXTRA_CA_CERTS: cannot read ${env.NODE_EXTRA_CA_CERTS} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
          { details: { setting: 'NODE_EXTRA_CA_CERTS' } },
        );
      }
    }
    if (pem) ca.push(pem);
    network.ca = ca;
  }
  return network.proxy || network.proxyEnv || network.ca ? network : undefined;
}

/**
 * A key without a name is named after its digest: stable when keys are reordered or reloaded,
 * and 48 bits of a hash say nothing usable about the key itself.
 */
function defaultKeyName(value: string, hashed: boolean): string {
  const hex = hashed ? value : createHash('sha256').update(value).digest('hex');
  return `key-${hex.slice(0, 12)}`;
}

function readDotenv(cwd: string, enabled: boolean): Record<string, string> {
  if (!enabled) return {};
  const path = resolve(cwd, '.env');
  if (!existsSync(path)) return {};
  return parseDotenv(readFileSync(path));
}

function findDefaultFile(cwd: string): string | undefined {
  for (const name of ['tasklane.config.json', 'tasklane.config.yaml', 'tasklane.config.yml']) {
    if (existsSync(resolve(cwd, name))) return name;
  }
  return undefined;
}

function readConfigFile(file: string): unknown {
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

function hasKey(value: unknown, key: string): boolean {
  return typeof value === 'object' && value !== null && key in value;
}

function applyEnvAndOverrides(raw: unknown, env: NodeJS.ProcessEnv, overrides: LoadOptions['overrides'], where: string): unknown {
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

function autoProviders(env: NodeJS.ProcessEnv): Record<string, ProviderConfig> {
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
