import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { TasklaneError, loadConfig } from '../../src/index.js';

// Values shaped like real settings (known keys, near-valid values) so the fuzz reaches deep checks.
const value = fc.oneof(
  fc.integer({ min: -10, max: 70_000 }),
  fc.string({ maxLength: 12 }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    'env:MISSING_VAR',
    'file:/nonexistent/key',
    'sha256:xyz',
    'openai-compatible',
    'ollama',
    'sqlite',
    'redis',
    'loop',
    'thread',
    'http://127.0.0.1:1/v1',
  ),
);
const section = fc.dictionary(
  fc.constantFrom(
    'host',
    'port',
    'apiKeys',
    'type',
    'baseURL',
    'engine',
    'placement',
    'concurrency',
    'maxQueue',
    'timeoutMs',
    'provider',
    'model',
    'leaseMs',
    'level',
    'enabled',
    'bogus',
  ),
  fc.oneof(value, fc.array(value, { maxLength: 3 })),
  { maxKeys: 5 },
);
const config = fc.dictionary(
  fc.constantFrom('server', 'providers', 'models', 'ai', 'lanes', 'store', 'jobs', 'log', 'demo', 'data', 'closeDeadlineMs', 'nope'),
  fc.oneof(
    value,
    section,
    fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.oneof(section, fc.array(section, { maxLength: 2 })), { maxKeys: 2 }),
  ),
  { maxKeys: 6 },
);

describe('config fuzz', () => {
  it('either loads or fails with a ConfigError naming a setting, never another crash', () => {
    let rejected = 0;
    fc.assert(
      fc.property(config, (input) => {
        try {
          loadConfig({ config: input as never, env: {}, dotenv: false, cwd: '/tmp' });
        } catch (err) {
          rejected++;
          expect(err).toBeInstanceOf(ConfigError);
          expect(TasklaneError.isInstance(err) && err.code.startsWith('TL_ERR_CONFIG')).toBe(true);
          // The message says which setting, e.g. "config server.port: …" or "providers.x.apiKeys[0]: …".
          expect((err as Error).message).toMatch(
            /^(config \S|(server|providers|models|lanes|ai|store|jobs)[.[]|.*configuration must be an object)/,
          );
        }
      }),
      { numRuns: 400, seed: 4242 },
    );
    expect(rejected).toBeGreaterThan(100);
  });
});
