/**
 * Issue 18 point 8: store.url is a secret like any other: `env:` and `file:` resolve, the password
 * (and a resolved URL) is scrubbed, and a URL no client could connect with is a ConfigError naming
 * store.url at load, never a server that is never ready.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadConfig } from '../../src/index.js';
import { makeScrubber } from '../../src/config/secrets.js';
import { tempDir } from '../support/runtime.js';

const load = (url: string, env: NodeJS.ProcessEnv = {}, cwd?: string) =>
  loadConfig({ config: { store: { engine: 'redis', url } }, env, dotenv: false, ...(cwd ? { cwd } : {}) });

describe('store.url', () => {
  it('resolves env: and file: and scrubs the password and the URL', () => {
    const url = 'redis://app:s3cret-pass-word@10.0.0.5:6380/2';
    const fromEnv = load('env:REDIS_URL', { REDIS_URL: url });
    expect(fromEnv.store).toMatchObject({ engine: 'redis', url });
    const scrub = makeScrubber(fromEnv.secrets);
    expect(scrub(`redis (commands): connect ${url} failed`)).not.toContain('s3cret');
    expect(scrub('NOAUTH s3cret-pass-word')).toBe('NOAUTH [redacted]');

    const dir = tempDir('tasklane-store-url-');
    try {
      writeFileSync(join(dir.dir, 'redis.url'), `${url}\n`);
      expect(load('file:redis.url', {}, dir.dir).store).toMatchObject({ url });
    } finally {
      dir.remove();
    }
    // A literal URL with a password is scrubbed too; one without stays readable in logs.
    expect(makeScrubber(load(url).secrets)('x s3cret-pass-word x')).toBe('x [redacted] x');
    expect(load('redis://127.0.0.1:6379').secrets).toEqual([]);
  });

  it('fails at load with a ConfigError naming store.url, never quoting the value', () => {
    for (const bad of [
      '127.0.0.1:6379',
      'http://127.0.0.1:6379',
      'redis://',
      'redis://host:6379/zero',
      'not a url at all s3cret',
      'redis://u:%zz@host:6379',
    ]) {
      let err: unknown;
      try {
        load(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(/^store\.url: /);
      expect((err as ConfigError).message).not.toContain('s3cret');
      expect((err as ConfigError).details.setting).toBe('store.url');
    }
    expect(() => load('env:NOT_SET_ANYWHERE')).toThrow(/store\.url: environment variable NOT_SET_ANYWHERE is not set/);
  });
});
