import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadConfig } from '../../src/index.js';

describe('loadConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tasklane-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const load = (config: unknown, env: NodeJS.ProcessEnv = {}, name = 'tasklane.config.json') => {
    const file = join(dir, name);
    writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
    return loadConfig({ file, env, cwd: dir, dotenv: true });
  };

  it('applies defaults: loopback, port 8080, data in ./data, sqlite store, demo tasks on', () => {
    const c = loadConfig({ env: {}, cwd: dir, dotenv: false });
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 8080, apiKeys: [] });
    expect(c.dataDir).toBe(join(dir, 'data'));
    expect(c.store).toEqual({ engine: 'sqlite' });
    expect(c.demo).toBe(true);
    expect(c.ai.timeouts).toEqual({ connectMs: 5000, firstByteMs: 30000, idleChunkMs: 30000, totalMs: 120000 });
  });

  it('resolves env: and file: secrets, reading .env without changing process.env', () => {
    writeFileSync(join(dir, '.env'), 'GROQ_KEY_FROM_DOTENV=gsk_dotenv_secret_1\n');
    writeFileSync(join(dir, 'key.txt'), 'gsk_file_secret_2\n');
    const c = load(
      {
        providers: {
          groq: {
            type: 'openai-compatible',
            baseURL: 'https://api.groq.com/openai/v1',
            apiKeys: ['env:GROQ_KEY_FROM_DOTENV', 'file:key.txt', 'env:OTHER'],
          },
        },
        models: { fast: [{ provider: 'groq', model: 'llama' }] },
      },
      { OTHER: 'gsk_env_secret_3' },
    );
    expect(c.providers.groq!.apiKeys).toEqual(['gsk_dotenv_secret_1', 'gsk_file_secret_2', 'gsk_env_secret_3']);
    expect(c.secrets).toEqual(expect.arrayContaining(['gsk_dotenv_secret_1', 'gsk_file_secret_2', 'gsk_env_secret_3']));
    expect(process.env.GROQ_KEY_FROM_DOTENV).toBeUndefined();
  });

  it('a missing secret names the setting and the variable to set, never a value', () => {
    let err: unknown;
    try {
      load({ providers: { groq: { type: 'openai-compatible', baseURL: 'https://x.test/v1', apiKeys: ['env:GROQ_API_KEY_2'] } } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('TL_ERR_CONFIG_SECRET_MISSING');
    expect((err as Error).message).toBe(
      'providers.groq.apiKeys[0]: environment variable GROQ_API_KEY_2 is not set; set GROQ_API_KEY_2 (in the environment or .env) or change providers.groq.apiKeys[0]',
    );
  });

  it('names every missing secret at once, settings and variables, never a value', () => {
    let err: unknown;
    try {
      load({
        providers: {
          groq: { type: 'openai-compatible', baseURL: 'https://x.test/v1', apiKeys: ['env:GROQ_A', 'gsk_literal_1234', 'env:GROQ_B'] },
          hf: { type: 'huggingface', baseURL: 'https://y.test/v1', apiKeys: ['file:missing/hf.key'] },
        },
        server: { apiKeys: ['env:CLIENT_KEY'] },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.code).toBe('TL_ERR_CONFIG_SECRET_MISSING');
    expect(e.message.split('\n')[0]).toBe('4 secrets are missing:');
    for (const part of ['set GROQ_A', 'set GROQ_B', 'missing/hf.key', 'set CLIENT_KEY']) expect(e.message).toContain(part);
    expect(e.details.settings).toEqual([
      'providers.groq.apiKeys[0]',
      'providers.groq.apiKeys[2]',
      'providers.hf.apiKeys[0]',
      'server.apiKeys[0]',
    ]);
    expect(e.message).not.toContain('gsk_literal_1234');
  });

  it('registers providers from the usual variables when the file has none', () => {
    const c = loadConfig({
      env: {
        GROQ_API_KEY: 'gsk_a_1234',
        GROQ_API_KEY_2: 'gsk_b_1234',
        OPENROUTER_API_KEY: 'or_1234',
        HF_TOKEN: 'hf_1234',
        MISTRAL_API_KEY: 'm_1234',
        OLLAMA_HOST: '127.0.0.1:11434',
      },
      cwd: dir,
      dotenv: false,
    });
    expect(Object.keys(c.providers).sort()).toEqual(['groq', 'huggingface', 'mistral', 'ollama', 'openrouter']);
    expect(c.providers.groq!.apiKeys).toEqual(['gsk_a_1234', 'gsk_b_1234']);
    expect(c.providers.ollama).toMatchObject({ type: 'ollama', baseURL: 'http://127.0.0.1:11434', apiKeys: [] });
  });

  it('reads YAML', () => {
    const c = load('server:\n  port: 9123\nlanes:\n  data:\n    concurrency: 2\n', {}, 'tasklane.config.yaml');
    expect(c.server.port).toBe(9123);
    expect(c.lanes.data).toEqual({ concurrency: 2 });
  });

  it.each([
    [
      { server: { port: 'eighty' } },
      /^config server\.port: Expected number, received string; fix server\.port in .*tasklane\.config\.json$/,
    ],
    [{ sever: {} }, /^config \(root\): unknown setting "sever"; remove it or check its spelling in /],
    [{ lanes: { data: { concurrency: 0 } } }, /^config lanes\.data\.concurrency: Number must be greater than 0/],
    [
      { models: { fast: [{ provider: 'nope', model: 'm' }] } },
      /^models\.fast\[0\]\.provider: no provider named "nope"; add providers\.nope/,
    ],
    [{ store: { engine: 'mongo' } }, /^config store\.engine: Invalid discriminator value/],
    ['{ not json', /is not valid JSON/],
    [[1, 2], /must be an object/],
  ])('rejects %j with a message naming the setting and the fix', (config, message) => {
    expect(() => load(config)).toThrow(message);
  });

  it('flags and environment override the file', () => {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ server: { port: 1000 }, data: 'x' }));
    expect(loadConfig({ file, env: { TASKLANE_PORT: '2000', TASKLANE_DATA: '/tmp/y' }, cwd: dir, dotenv: false }).server.port).toBe(2000);
    const c = loadConfig({ file, env: { TASKLANE_PORT: '2000' }, cwd: dir, dotenv: false, overrides: { port: 0, data: 'z' } });
    expect(c.server.port).toBe(0);
    expect(c.dataDir).toBe(join(dir, 'z'));
    expect(() => loadConfig({ file, env: { TASKLANE_PORT: 'abc' }, cwd: dir, dotenv: false })).toThrow(
      /TASKLANE_PORT: "abc" is not a port/,
    );
  });

  it('accepts hashed client keys and rejects malformed ones', () => {
    const hash = 'a'.repeat(64);
    const c = load({ server: { apiKeys: [`sha256:${hash}`, { key: 'plain-key-1234', scopes: ['jobs:read'] }] } });
    expect(c.server.apiKeys).toEqual([
      {
        value: hash,
        hashed: true,
        scopes: ['ai', 'jobs:read', 'jobs:write', 'admin'],
        name: `key-${hash.slice(0, 12)}`,
        sees: 'own',
        tenantHeader: false,
      },
      {
        value: 'plain-key-1234',
        hashed: false,
        scopes: ['jobs:read'],
        name: expect.stringMatching(/^key-[0-9a-f]{12}$/),
        sees: 'own',
        tenantHeader: false,
      },
    ]);
    expect(() => load({ server: { apiKeys: ['sha256:xyz'] } })).toThrow(
      /server\.apiKeys\[0\]: a hashed key is "sha256:" followed by 64 hex digits/,
    );
  });

  it('names client keys, refuses two keys of one name and sees: "tenant" without a tenant', () => {
    const c = load({
      server: { apiKeys: [{ key: 'key-one-1234', name: 'app-a', tenant: 'acme', sees: 'tenant', tenantHeader: true }, 'key-two-1234'] },
    });
    expect(c.server.apiKeys[0]).toMatchObject({ name: 'app-a', tenant: 'acme', sees: 'tenant', tenantHeader: true });
    // The default name is stable (a digest), whatever the order of the keys.
    expect(load({ server: { apiKeys: ['x-key-0000', 'key-two-1234'] } }).server.apiKeys[1]!.name).toBe(c.server.apiKeys[1]!.name);
    expect(() =>
      load({
        server: {
          apiKeys: [
            { key: 'key-one-1234', name: 'same' },
            { key: 'key-two-1234', name: 'same' },
          ],
        },
      }),
    ).toThrow(/server\.apiKeys\[1\]\.name: "same" names another key too/);
    expect(() => load({ server: { apiKeys: [{ key: 'key-one-1234', sees: 'tenant' }] } })).toThrow(
      /server\.apiKeys\[0\]\.sees: "tenant" needs a tenant/,
    );
  });
});
