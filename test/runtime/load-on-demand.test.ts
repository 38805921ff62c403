import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL, deleteKeys, requireRedis, testPrefix } from '../support/redis.js';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../fixtures/runtime/loaded-modules.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The node_modules packages a fresh process loads to build, start and close a runtime with this config. */
async function loadedPackages(config: object): Promise<string[]> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', SCRIPT, JSON.stringify(config)], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '' },
    timeout: 60_000,
  });
  return (JSON.parse(stdout.trim().split('\n').at(-1)!) as { packages: string[] }).packages;
}

describe('optional backends load on demand', () => {
  beforeAll(() => requireRedis());

  it('a SQLite runtime loads neither bullmq nor ioredis', async () => {
    const packages = await loadedPackages({ store: { engine: 'sqlite' } });
    expect(packages).toContain('better-sqlite3');
    expect(packages).not.toContain('bullmq');
    expect(packages).not.toContain('ioredis');
  });

  it('a runtime without telemetry.otlp.endpoint loads no OpenTelemetry SDK; one with it loads the SDK and the exporter', async () => {
    const off = await loadedPackages({ store: { engine: 'sqlite' } });
    // @opentelemetry/api itself comes with prom-client (its exemplars), tracing or not.
    expect(off.filter((p) => p.startsWith('@opentelemetry/') && p !== '@opentelemetry/api')).toEqual([]);
    // Nothing listens there: the spans of start and close are dropped, which is fine here.
    const on = await loadedPackages({ store: { engine: 'sqlite' }, telemetry: { otlp: { endpoint: 'http://127.0.0.1:9/' } } });
    expect(on).toContain('@opentelemetry/sdk-trace');
    expect(on).toContain('@opentelemetry/exporter-trace-otlp-http');
  });

  it('a Redis runtime loads them (so the check above can see them)', async () => {
    const prefix = testPrefix('on-demand');
    try {
      const packages = await loadedPackages({ store: { engine: 'redis', url: REDIS_URL, prefix }, jobs: { worker: false } });
      expect(packages).toContain('bullmq');
      expect(packages).toContain('ioredis');
    } finally {
      await deleteKeys(prefix);
    }
  });
});
