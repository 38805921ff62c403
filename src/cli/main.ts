import { version } from './version.js';
import { EXIT_CODES } from './exit-codes.js';
import { TasklaneError } from '../errors.js';
import { UsageError } from './args.js';
import { serve } from './serve.js';
import { jobs } from './jobs.js';
import { schedules } from './schedules.js';
import { doctor } from './doctor.js';
import { backup } from './backup.js';
import { migrate } from './migrate.js';
import { reload } from './reload.js';
import { spend } from './spend.js';

type Command = (argv: string[]) => Promise<number | undefined>;

/** Subcommands; each module adds its own entry. */
const commands: Record<string, { run: Command; summary: string }> = {
  serve: { run: serve, summary: 'start the server' },
  jobs: { run: jobs, summary: 'submit, watch, get, cancel, retry and list jobs on a running server' },
  schedules: { run: schedules, summary: 'list the schedules of a running server' },
  doctor: { run: doctor, summary: 'check the configuration, keys and providers' },
  backup: { run: backup, summary: 'copy the SQLite job store while the server runs' },
  reload: { run: reload, summary: 'make a running server read its configuration and secrets again' },
  migrate: { run: migrate, summary: "bring the job store to this version's format" },
  spend: { run: spend, summary: 'show AI spend per client key, tenant and provider, with budgets' },
};

function help(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)}${c.summary}`);
  return `Usage: tasklane <command> [options]

Commands:
${lines.join('\n')}

Options:
  -h, --help      show help (also: tasklane <command> --help)
  -v, --version   print the version

${EXIT_CODES}

In a clone: npm ci, then npx tasklane <command> (or npm link once for a tasklane on PATH).`;
}

export { version };

/** The CLI entry. Returns the exit code: 0 ok, 1 failure, 2 usage or configuration error. */
export async function main(argv: string[]): Promise<number | undefined> {
  // `npx tasklane -- jobs list` and `npm start -- --port 0` hand the separator on: skip it.
  const [name, ...rest] = argv[0] === '--' ? argv.slice(1) : argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${help()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '-v' || name === '--version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(`tasklane: unknown command "${name}"; run tasklane --help\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`tasklane ${name}: ${err.message}\n`);
      return 2;
    }
    if (TasklaneError.isInstance(err) && err.code.startsWith('TL_ERR_CONFIG')) {
      process.stderr.write(`tasklane ${name}: ${err.message}\n`);
      return 2;
    }
    const msg = TasklaneError.isInstance(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`tasklane ${name}: ${msg}\n`);
    return 1;
  }
}
