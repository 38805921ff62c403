import { resolve } from 'node:path';
import { loadConfig } from '../config/index.js';
import { ConfigError } from '../errors.js';
import { sqlitePath } from '../jobs/engines/index.js';
import { backupSqlite } from '../jobs/engines/sqlite/backup.js';
import { parseArgs, UsageError } from './args.js';

export const backupHelp = `Usage: tasklane backup FILE [options]

Copies the embedded SQLite job store to FILE while the server keeps running (SQLite's online
backup), checks the copy's integrity and prints what it holds. To restore: stop the server,
replace the store file with the copy (and delete its -wal and -shm files), start the server.

Options:
  --config FILE   configuration file, JSON or YAML (env TASKLANE_CONFIG)
  --data DIR      data folder (env TASKLANE_DATA), when the store is <data>/tasklane.db
  --json          print the result as JSON
  -h, --help      this help`;

export async function backup(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(
    argv,
    { config: 'string', data: 'string', json: 'boolean', help: 'boolean', h: 'boolean' },
    'backup',
  );
  if (flags.help || flags.h) {
    process.stdout.write(`${backupHelp}\n`);
    return 0;
  }
  const [file, extra] = positionals;
  if (!file) throw new UsageError('name the file to write, e.g. tasklane backup ./tasklane-backup.db');
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"; see tasklane backup --help`);
  const config = loadConfig({ file: flags.config as string | undefined, overrides: { data: flags.data as string | undefined } });
  if (config.store.engine !== 'sqlite') {
    throw new ConfigError(
      `tasklane backup copies the SQLite store; store.engine is "${config.store.engine}": back Redis up with its own tools (BGSAVE, RDB or AOF files)`,
      {
        details: { setting: 'store.engine' },
      },
    );
  }
  const source = sqlitePath(config);
  const dest = resolve(file);
  if (dest === source) throw new UsageError('the backup file is the store itself; name another file');
  const result = await backupSqlite(source, dest);
  if (flags.json) process.stdout.write(`${JSON.stringify({ source, ...result })}\n`);
  else
    process.stdout.write(
      `backed up ${source} to ${result.file}: ${result.bytes} bytes, ${result.jobs} jobs, format version ${result.format}\n`,
    );
  return 0;
}
