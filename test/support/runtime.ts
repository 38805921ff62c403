import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createRuntime, listen, type ConfigInput, type Runtime, type RoutePlugin } from '../../src/index.js';
import type { Listening } from '../../src/server/index.js';

/** A temp folder removed by the returned function. */
export function tempDir(prefix = 'tasklane-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Captures log lines in memory so tests can assert on them (and grep them for secrets). */
export class LogCapture extends Writable {
  lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestRuntime {
  runtime: Runtime;
  logs: LogCapture;
  dir: string;
  close(): Promise<void>;
}

/** A runtime on a fresh data folder with logs captured. No .env is read. */
export async function testRuntime(config: ConfigInput = {}, env: NodeJS.ProcessEnv = {}): Promise<TestRuntime> {
  const tmp = tempDir();
  const logs = new LogCapture();
  const runtime = await createRuntime({
    config: { data: tmp.dir, log: { level: 'info' }, ...config },
    env,
    dotenv: false,
    cwd: tmp.dir,
    logDestination: logs,
  });
  return {
    runtime,
    logs,
    dir: tmp.dir,
    async close() {
      await runtime.close();
      tmp.remove();
    },
  };
}

/** A runtime plus its HTTP server on a free loopback port. */
export async function testServer(
  config: ConfigInput = {},
  env: NodeJS.ProcessEnv = {},
  options: { routes?: RoutePlugin[] } = {},
): Promise<TestRuntime & { server: Listening; url: string }> {
  const t = await testRuntime({ ...config, server: { port: 0, ...(config.server ?? {}) } }, env);
  const server = await listen(t.runtime, options);
  return { ...t, server, url: server.url };
}
