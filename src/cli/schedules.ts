import { TasklaneClient, TasklaneClientError } from '../client/index.js';
import { UsageError, parseArgs } from './args.js';
import { EXIT_CODES } from './exit-codes.js';

export const schedulesHelp = `Usage: tasklane schedules list [options]

Lists the schedules of a running server (GET /v1/schedules, admin scope): name, task, cron and
time zone, the next tick, and the latest run with its job id.

Options:
  --url URL    the server (env TASKLANE_URL, default http://127.0.0.1:8080)
  --key KEY    client key with the admin scope (env TASKLANE_API_KEY)
  --json       print the raw JSON answer
  -h, --help   this help

${EXIT_CODES}`;

export async function schedules(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    process.stdout.write(`${schedulesHelp}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'list') throw new UsageError(`unknown schedules command "${sub}"; use list (see tasklane schedules --help)`);
  const { flags, positionals } = parseArgs(
    rest,
    { url: 'string', key: 'string', json: 'boolean', help: 'boolean', h: 'boolean' },
    'schedules list',
  );
  if (flags.help || flags.h) {
    process.stdout.write(`${schedulesHelp}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; tasklane schedules list takes options only`);
  const url = (flags.url as string | undefined) ?? process.env.TASKLANE_URL ?? 'http://127.0.0.1:8080';
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--url must be an http(s) URL like http://127.0.0.1:8080 (got "${url}")`);
  const client = new TasklaneClient({ url, apiKey: ((flags.key as string | undefined) ?? process.env.TASKLANE_API_KEY) || undefined });
  try {
    const answer = await client.schedules();
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(answer)}\n`);
      return 0;
    }
    for (const s of answer.schedules) {
      const last = s.lastJobId ? `last ${s.lastRunAt} job ${s.lastJobId}` : 'never run';
      process.stdout.write(`${s.name}  ${s.task}  "${s.cron}" ${s.timezone}  next ${s.nextRunAt ?? 'none'}  ${last}\n`);
    }
    if (answer.schedules.length === 0) process.stderr.write('no schedules (add them under "schedules" in the config)\n');
    return 0;
  } catch (err) {
    if (!TasklaneClientError.isInstance(err)) throw err;
    const hint =
      err.code === 'TL_ERR_CLIENT_NETWORK'
        ? '\n  start a server with `tasklane serve`, or point --url (or TASKLANE_URL) at a running one'
        : err.code.startsWith('TL_ERR_AUTH')
          ? '\n  pass a client key with the admin scope with --key (or TASKLANE_API_KEY)'
          : '';
    process.stderr.write(`tasklane schedules: ${err.code}: ${err.message}${hint}\n`);
    return 1;
  }
}
