import { parsePort } from '../config/index.js';
import { createRuntime } from '../create-runtime.js';
import { handleSignals } from '../runtime/index.js';
import { listen } from '../server/index.js';
import { parseArgs } from './args.js';

export const serveHelp = `Usage: tasklane serve [options]

Starts the server (HTTP API, jobs, dashboard) on the embedded store.

Options:
  --config FILE   configuration file, JSON or YAML (env TASKLANE_CONFIG)
  --host HOST     address to bind (default 127.0.0.1)
  --port N        port; 0 picks a free one (env TASKLANE_PORT, default 8080)
  --data DIR      data folder for the embedded store (env TASKLANE_DATA, default ./data)
  -h, --help      this help

The first line on stdout is "listening http://HOST:PORT".`;

export async function serve(argv: string[]): Promise<number | undefined> {
  const { flags } = parseArgs(argv, { config: 'string', host: 'string', port: 'string', data: 'string', help: 'boolean', h: 'boolean' }, 'serve');
  if (flags.help || flags.h) {
    process.stdout.write(`${serveHelp}\n`);
    return 0;
  }
  const runtime = await createRuntime({
    file: flags.config as string | undefined,
    overrides: {
      host: flags.host as string | undefined,
      port: flags.port !== undefined ? parsePort(flags.port as string, '--port') : undefined,
      data: flags.data as string | undefined,
    },
  });
  let server;
  try {
    server = await listen(runtime);
  } catch (err) {
    await runtime.close();
    throw err;
  }
  // Signals are handled before the URL is printed: whoever starts us may stop us right after.
  const stopped = new Promise<number>((resolve) => handleSignals(runtime, resolve));
  process.stdout.write(`listening ${server.url}\n`);
  runtime.log.info({ url: server.url, auth: runtime.config.server.apiKeys.length > 0 }, 'listening');
  return stopped;
}
