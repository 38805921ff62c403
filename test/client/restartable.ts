import { createRuntime, listen, type ConfigInput, type Runtime } from '../../src/index.js';
import { LogCapture } from '../support/runtime.js';

export interface Running {
  runtime: Runtime;
  url: string;
  port: number;
  logs: LogCapture;
}

/**
 * A server on a given data folder and port, so a test can stop it and start another on the same
 * store and address (a restart). Port 0 picks one; pass the first one's port to the second.
 */
export async function startOn(dir: string, port: number, config: ConfigInput = {}): Promise<Running> {
  const logs = new LogCapture();
  const runtime = await createRuntime({
    config: { data: dir, log: { level: 'warn' }, ...config, server: { ...(config.server ?? {}), port } },
    env: {},
    dotenv: false,
    cwd: dir,
    logDestination: logs,
  });
  try {
    const server = await listen(runtime);
    return { runtime, url: server.url, port: server.port, logs };
  } catch (err) {
    await runtime.close();
    throw err;
  }
}
