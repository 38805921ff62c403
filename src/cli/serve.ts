import { loadConfig, parsePort } from '../config/index.js';
import { createRuntime } from '../create-runtime.js';
import { handleSignals } from '../runtime/index.js';
import { listen } from '../server/index.js';
import { parseArgs } from './args.js';
import { version } from './version.js';
import { formatStartup, startupFacts } from './startup.js';
import { style } from './style.js';

export const serveHelp = `Usage: tasklane serve [options]

Starts the server (HTTP API, jobs, dashboard) on the embedded store.

Options:
  --config FILE   configuration file, JSON or YAML (env TASKLANE_CONFIG)
  --host HOST     address to bind (default 127.0.0.1; another address needs server.apiKeys)
  --port N        port; 0 picks a free one (env TASKLANE_PORT, default 8080)
  --data DIR      data folder for the embedded store (env TASKLANE_DATA, default ./data)
  -h, --help      this help

The first line on stdout is "listening http://HOST:PORT". Then, on a terminal, a summary (the
dashboard, tasks, providers, a command to try) and readable logs on stderr; elsewhere JSON log
lines (log.format: auto, json or pretty).

Exit codes: 0 stopped cleanly, 1 a failure, 2 a configuration problem (a bad setting, a port in
use, another host without client keys).`;

export async function serve(argv: string[]): Promise<number | undefined> {
  const { flags } = parseArgs(
    argv,
    { config: 'string', host: 'string', port: 'string', data: 'string', help: 'boolean', h: 'boolean' },
    'serve',
  );
  if (flags.help || flags.h) {
    process.stdout.write(`${serveHelp}\n`);
    return 0;
  }
  const load = {
    file: flags.config as string | undefined,
    overrides: {
      host: flags.host as string | undefined,
      port: flags.port !== undefined ? parsePort(flags.port as string, '--port') : undefined,
      data: flags.data as string | undefined,
    },
  };
  // The log format is known only from the config, and the logger is made with the runtime: read
  // it first. The runtime loads again from the same options, so that a reload (SIGHUP) can.
  const format = loadConfig(load).log.format;
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  const s = style(process.stderr);
  const runtime = await createRuntime({ ...load, ...(pretty ? { logDestination: await prettyDestination(s.color) } : {}) });
  let server;
  try {
    server = await listen(runtime);
  } catch (err) {
    await runtime.close();
    throw err;
  }
  // Signals are handled before the URL is printed: whoever starts us may stop us right after.
  const stopped = new Promise<number>((resolve) => handleSignals(runtime, resolve)).then((code) => exitIfStuck(runtime, code));
  process.stdout.write(`listening ${server.url}\n`);
  const facts = startupFacts(runtime, server.url);
  if (pretty) process.stderr.write(formatStartup(facts, s, version()));
  else runtime.log.info({ ...facts, version: version() }, `ready: dashboard ${facts.dashboard}`);
  return stopped;
}

/** pino-pretty, loaded only when used, writing synchronously to stderr. */
async function prettyDestination(colorize: boolean): Promise<{ write(line: string): unknown }> {
  const { default: pretty } = await import('pino-pretty');
  return pretty({ colorize, sync: true, destination: 2, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' });
}

/**
 * After close(): when a closer hung past the deadline or failed, says which on stderr and exits
 * at once with a non-zero code, since what it left (a connection to a Redis that went away, a
 * socket) would keep the process alive; process.exit() drops every handle that is left.
 */
async function exitIfStuck(runtime: Awaited<ReturnType<typeof createRuntime>>, code: number): Promise<number> {
  const report = await runtime.close(); // memoized: the report of the close the signal started
  if (report.timedOut.length === 0 && report.failed.length === 0) return code;
  const parts: string[] = [];
  if (report.timedOut.length)
    parts.push(`did not close before the deadline (closeDeadlineMs = ${runtime.config.closeDeadlineMs} ms): ${report.timedOut.join(', ')}`);
  if (report.failed.length) parts.push(`failed to close: ${report.failed.map((f) => `${f.name} (${f.error})`).join(', ')}`);
  process.stderr.write(`tasklane serve: ${runtime.scrub(parts.join('; '))}; exiting\n`);
  await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
  process.exit(code || 1);
}
