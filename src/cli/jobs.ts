import { TasklaneClient, TasklaneClientError, type JobEvent, type JobRecord } from '../client/index.js';
import { UsageError, parseArgs } from './args.js';
import { ProgressView } from './progress-view.js';
import { EXIT_CODES } from './exit-codes.js';
import { style } from './style.js';

export const jobsHelp = `Usage: tasklane jobs <command> [options]

Commands:
  submit <task> --input JSON   enqueue a job; prints its id (with --watch, follows it and prints its result)
  watch <id>                   follow a job's progress; prints its result on stdout when it succeeds
  get <id>                     the job's record as JSON (state, attempts, input, result or error)
  cancel <id>                  cancel a queued or running job
  retry <id>                   run a dead or cancelled job again
  signal <id> <name> [JSON]    send a signal to a job waiting in ctx.waitForSignal(name) (payload default null)
  list                         the newest jobs, one per line

Options:
  --url URL               the server (env TASKLANE_URL, default http://127.0.0.1:8080)
  --key KEY               client key (env TASKLANE_API_KEY)
  submit:
    --input JSON          the task's input, e.g. '{"steps":10,"ms":100}' (default null)
    --priority N          higher runs first (default 0)
    --delay-ms N          earliest start, in ms from now
    --idempotency-key K   a second submit with the same key returns the first job
    --max-attempts N      attempts before the job is dead
    --watch               follow the job until it ends
  watch:
    --from N              start after this event seq (default 0: replay everything)
  list:
    --state S             queued, delayed, running, waiting, succeeded, dead or cancelled
    --task T              only this task
    --limit N             page size, 1 to 500 (default 20)
    --cursor C            the page after the one that printed this cursor
    --json                print the raw JSON answer
  -h, --help              this help

Progress goes to stderr (a bar with colour and elapsed time on a terminal, one line per event
otherwise; NO_COLOR turns colour off), results and ids to stdout. Ctrl+C stops watching, not the
job: tasklane jobs watch <id> follows it again.

${EXIT_CODES}`;

const COMMON = { url: 'string', key: 'string', help: 'boolean', h: 'boolean' } as const;

export async function jobs(argv: string[]): Promise<number | undefined> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    process.stdout.write(`${jobsHelp}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'submit') return submit(rest);
  if (sub === 'watch') return watchCommand(rest);
  if (sub === 'list') return list(rest);
  if (sub === 'get') return getCommand(rest);
  if (sub === 'cancel' || sub === 'retry') return actCommand(sub, rest);
  if (sub === 'signal') return signalCommand(rest);
  throw new UsageError(`unknown jobs command "${sub}"; use submit, watch, get, cancel, retry, signal or list (see tasklane jobs --help)`);
}

async function submit(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(
    argv,
    {
      ...COMMON,
      input: 'string',
      priority: 'string',
      'delay-ms': 'string',
      'idempotency-key': 'string',
      'max-attempts': 'string',
      watch: 'boolean',
    },
    'jobs submit',
  );
  if (flags.help || flags.h) return help();
  const [task, extra] = positionals;
  if (!task) throw new UsageError('name the task to run, e.g. tasklane jobs submit demo.progress --input \'{"steps":5}\'');
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"; pass the input with --input JSON`);
  const input = flags.input === undefined ? null : parseInput(flags.input as string);
  const client = clientFrom(flags);
  return run(client, async (signal) => {
    const job = await client.jobs.submit(task, input, {
      priority: intFlag(flags, 'priority', -1_000_000, 1_000_000),
      delayMs: intFlag(flags, 'delay-ms', 0, 365 * 24 * 3_600_000),
      idempotencyKey: flags['idempotency-key'] as string | undefined,
      maxAttempts: intFlag(flags, 'max-attempts', 1, 1_000),
      signal,
    });
    if (!flags.watch) {
      process.stdout.write(`${job.id}\n`);
      process.stderr.write(`submitted job ${job.id} (${job.task}, ${job.state})\n`);
      return 0;
    }
    process.stderr.write(`job ${job.id} (${job.task})\n`);
    return follow(client, job.id, 0, signal, flags);
  });
}

async function watchCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { ...COMMON, from: 'string' }, 'jobs watch');
  if (flags.help || flags.h) return help();
  const [id, extra] = positionals;
  if (!id) throw new UsageError('name the job to watch: tasklane jobs watch <id>');
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"; watch one job at a time`);
  const from = intFlag(flags, 'from', 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const client = clientFrom(flags);
  return run(client, (signal) => follow(client, id, from, signal, flags));
}

async function list(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(
    argv,
    { ...COMMON, state: 'string', task: 'string', limit: 'string', cursor: 'string', json: 'boolean' },
    'jobs list',
  );
  if (flags.help || flags.h) return help();
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; filter with --state or --task`);
  const STATES = ['queued', 'delayed', 'running', 'waiting', 'succeeded', 'dead', 'cancelled'];
  if (flags.state !== undefined && !STATES.includes(flags.state as string))
    throw new UsageError(`--state must be one of ${STATES.join(', ')} (got "${flags.state}")`);
  const client = clientFrom(flags);
  return run(client, async (signal) => {
    const page = await client.jobs.list(
      {
        state: flags.state as JobRecord['state'] | undefined,
        task: flags.task as string | undefined,
        limit: intFlag(flags, 'limit', 1, 500) ?? 20,
        cursor: flags.cursor as string | undefined,
      },
      { signal },
    );
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(page)}\n`);
      return 0;
    }
    for (const j of page.jobs) {
      process.stdout.write(
        `${j.id}  ${j.state.padEnd(9)}  ${j.task}  attempt ${j.attempt}/${j.maxAttempts}  ${new Date(j.createdAt).toISOString()}\n`,
      );
    }
    if (page.jobs.length === 0) process.stderr.write('no jobs\n');
    if (page.next) process.stderr.write(`more: tasklane jobs list --cursor ${page.next}\n`);
    return 0;
  });
}

/**
 * Follows a job until its terminal event; 0 when it succeeded, 1 otherwise, 130 on Ctrl+C (the
 * job goes on: the message says how to follow it again).
 */
async function follow(
  client: TasklaneClient,
  id: string,
  from: number,
  signal: AbortSignal,
  flags: Record<string, string | boolean>,
): Promise<number> {
  const view = new ProgressView(process.stderr, style(process.stderr));
  let last: JobEvent | undefined;
  const stopped = (): number => {
    view.interrupt();
    const url = flags.url ? ` --url ${flags.url as string}` : '';
    process.stderr.write(`stopped watching; job ${id} is still running: tasklane jobs watch ${id}${url}\n`);
    return 130;
  };
  try {
    for await (const event of client.jobs.events(id, { fromSeq: from, signal })) {
      last = event;
      view.update(event);
    }
  } catch (err) {
    if (signal.aborted) return stopped();
    view.interrupt();
    throw err;
  }
  if (signal.aborted && !(last && TERMINAL.has(last.type))) return stopped();
  if (!last || !TERMINAL.has(last.type)) {
    // Nothing after `from`: the job was already over; report its state.
    const job = await client.jobs.get(id, { signal });
    return report(view, id, job.state, job.result, job.error);
  }
  const data = last.data as { result?: unknown; error?: { code: string; message: string } };
  return report(view, id, last.type, data?.result, data?.error);
}

const TERMINAL = new Set(['succeeded', 'dead', 'cancelled']);

/** The result on stdout, one final line on stderr; the exit code. */
function report(
  view: ProgressView,
  id: string,
  state: string,
  result: unknown,
  error: { code: string; message: string } | null | undefined,
): number {
  view.finish({ state, ...(error ? { error } : {}) }, id);
  if (state === 'succeeded') {
    process.stdout.write(`${JSON.stringify(result ?? null)}\n`);
    return 0;
  }
  return 1;
}

async function getCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { ...COMMON }, 'jobs get');
  if (flags.help || flags.h) return help();
  const id = oneId(positionals, 'get');
  const client = clientFrom(flags);
  return run(client, async (signal) => {
    const job = await client.jobs.get(id, { signal });
    process.stdout.write(`${JSON.stringify(job, null, process.stdout.isTTY ? 2 : undefined)}\n`);
    return 0;
  });
}

async function actCommand(what: 'cancel' | 'retry', argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { ...COMMON }, `jobs ${what}`);
  if (flags.help || flags.h) return help();
  const id = oneId(positionals, what);
  const client = clientFrom(flags);
  return run(client, async (signal) => {
    const job = what === 'cancel' ? await client.jobs.cancel(id, { signal }) : await client.jobs.retry(id, { signal });
    const s = style(process.stderr);
    const note =
      what === 'retry'
        ? `job ${id} is ${job.state} again; follow it with tasklane jobs watch ${id}`
        : job.state === 'cancelled'
          ? `job ${id} cancelled`
          : `job ${id}: cancel requested; it stops at its next check (state ${job.state})`;
    process.stdout.write(`${job.state}\n`);
    process.stderr.write(`${s.bold(note)}\n`);
    return 0;
  });
}

async function signalCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { ...COMMON }, 'jobs signal');
  if (flags.help || flags.h) return help();
  const [id, name, json, extra] = positionals;
  if (!id || !name) throw new UsageError('name the job and the signal: tasklane jobs signal <id> <name> [JSON payload]');
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"; quote the JSON payload as one argument`);
  if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(name))
    throw new UsageError(`signal name must be 1 to 100 letters, digits or _ . : - (got "${name}")`);
  let payload: unknown = null;
  if (json !== undefined) {
    try {
      payload = JSON.parse(json);
    } catch (err) {
      throw new UsageError(`the payload must be JSON, e.g. '{"approved":true}' (${(err as Error).message})`);
    }
  }
  const client = clientFrom(flags);
  return run(client, async (signal) => {
    const job = await client.jobs.signal(id, name, payload, { signal });
    process.stdout.write(`${job.state}\n`);
    process.stderr.write(
      `${style(process.stderr).bold(job.state === 'queued' ? `job ${id} woke on signal "${name}"` : `signal "${name}" kept for job ${id} (state ${job.state}) until it waits for it`)}\n`,
    );
    return 0;
  });
}

function oneId(positionals: string[], what: string): string {
  const [id, extra] = positionals;
  if (!id) throw new UsageError(`name the job: tasklane jobs ${what} <id>`);
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"; one job at a time`);
  return id;
}

/** Runs a command with Ctrl-C wired to an abort and client errors turned into messages and exit codes. */
async function run(client: TasklaneClient, fn: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    return await fn(controller.signal);
  } catch (err) {
    if (!TasklaneClientError.isInstance(err)) throw err;
    if (err.code === 'TL_ERR_ABORTED') return 130;
    if (err.code === 'TL_ERR_CLIENT_NETWORK') {
      process.stderr.write(
        `tasklane jobs: ${err.message}\n  start a server with \`tasklane serve\`, or point --url (or TASKLANE_URL) at a running one\n`,
      );
      return 1;
    }
    if (err.code === 'TL_ERR_AUTH_MISSING' || err.code === 'TL_ERR_AUTH_INVALID') {
      process.stderr.write(`tasklane jobs: ${err.code}: ${err.message}\n  pass a client key with --key (or TASKLANE_API_KEY)\n`);
      return 1;
    }
    process.stderr.write(`tasklane jobs: ${err.code}: ${err.message}\n`);
    // The caller's mistakes (bad input, a task that does not exist) are usage errors, as bad flags are.
    return err.code === 'TL_ERR_VALIDATION' || err.code === 'TL_ERR_JOB_UNKNOWN_TASK' ? 2 : 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

function clientFrom(flags: Record<string, string | boolean>): TasklaneClient {
  const url = (flags.url as string | undefined) ?? process.env.TASKLANE_URL ?? 'http://127.0.0.1:8080';
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--url must be an http(s) URL like http://127.0.0.1:8080 (got "${url}")`);
  const apiKey = (flags.key as string | undefined) ?? process.env.TASKLANE_API_KEY;
  return new TasklaneClient({ url, apiKey: apiKey || undefined });
}

function parseInput(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--input must be JSON, e.g. --input '{"steps":5}' (${(err as Error).message})`);
  }
}

function intFlag(flags: Record<string, string | boolean>, name: string, min: number, max: number): number | undefined {
  const raw = flags[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^-?\d+$/.test(String(raw)) || n < min || n > max)
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  return n;
}

function help(): number {
  process.stdout.write(`${jobsHelp}\n`);
  return 0;
}
