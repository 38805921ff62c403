import { parseArgs, UsageError } from './args.js';

export const reloadHelp = `Usage: tasklane reload [options]

Asks a running server to read its configuration file and every env:/file: secret again
(POST /v1/admin/reload, admin scope). Client keys, provider keys, routes and limits change at
once; calls and streams already running finish on what they started with. Prints what changed
and which changed settings need a restart. An invalid file is refused with every problem listed,
and the server keeps its running configuration. (kill -HUP <pid> does the same.)

Options:
  --url URL       the server (env TASKLANE_URL, default http://127.0.0.1:8080)
  --key KEY       a client key with the admin scope (env TASKLANE_API_KEY)
  --json          print the server's answer as JSON
  -h, --help      this help

Exit code: 0 when reloaded, 1 when refused or unreachable.`;

export async function reload(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(
    argv,
    { url: 'string', key: 'string', json: 'boolean', help: 'boolean', h: 'boolean' },
    'reload',
  );
  if (flags.help || flags.h) {
    process.stdout.write(`${reloadHelp}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; see tasklane reload --help`);
  const url = ((flags.url as string | undefined) ?? process.env.TASKLANE_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const key = (flags.key as string | undefined) ?? process.env.TASKLANE_API_KEY;
  let res: Response;
  try {
    res = await fetch(`${url}/v1/admin/reload`, {
      method: 'POST',
      headers: key ? { authorization: `Bearer ${key}` } : {},
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    process.stderr.write(`tasklane reload: ${url} cannot be reached (${(err as Error).message}); check --url / TASKLANE_URL\n`);
    return 1;
  }
  const body = (await res.json().catch(() => ({}))) as {
    applied?: string[];
    restartRequired?: string[];
    error?: { code: string; message: string };
  };
  if (flags.json) process.stdout.write(`${JSON.stringify(body)}\n`);
  if (!res.ok) {
    process.stderr.write(`tasklane reload: ${body.error?.code ?? res.status}: ${body.error?.message ?? 'refused'}\n`);
    return 1;
  }
  if (!flags.json) {
    process.stdout.write(`reloaded: ${body.applied?.length ? body.applied.join(', ') : 'nothing changed live'}\n`);
    if (body.restartRequired?.length) process.stdout.write(`needs a restart to take effect: ${body.restartRequired.join(', ')}\n`);
  }
  return 0;
}
