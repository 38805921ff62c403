import { loadConfig } from '../config/index.js';
import { sqlitePath } from '../jobs/engines/index.js';
import { parseArgs, UsageError } from './args.js';

export const migrateHelp = `Usage: tasklane migrate [options]

Brings the job store's format up to this tasklane's version and prints both versions. SQLite
files are migrated in one transaction (serve does the same at start); a Redis prefix records its
format in <prefix>:meta. A store written by a newer tasklane is refused (TL_ERR_STORE_TOO_NEW)
and left as it is. --check only reads the versions.

Options:
  --config FILE   configuration file, JSON or YAML (env TASKLANE_CONFIG)
  --data DIR      data folder (env TASKLANE_DATA)
  --check         report the versions without changing anything
  --json          print the result as JSON
  -h, --help      this help

Exit code: 0 when the store is (now) at this version, 1 when --check finds it older or it is newer.`;

export async function migrate(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(
    argv,
    { config: 'string', data: 'string', check: 'boolean', json: 'boolean', help: 'boolean', h: 'boolean' },
    'migrate',
  );
  if (flags.help || flags.h) {
    process.stdout.write(`${migrateHelp}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; see tasklane migrate --help`);
  const config = loadConfig({ file: flags.config as string | undefined, overrides: { data: flags.data as string | undefined } });
  const check = flags.check === true;
  let store: string;
  let answer: { found: number; now: number; supported: number };
  if (config.store.engine === 'sqlite') {
    store = sqlitePath(config);
    const { readSqliteFormat, SCHEMA_VERSION } = await import('../jobs/engines/sqlite/schema.js');
    if (check) answer = { ...readSqliteFormat(store), supported: SCHEMA_VERSION };
    else {
      const { SqliteJobEngine } = await import('../jobs/engines/sqlite/sqlite-engine.js');
      const engine = new SqliteJobEngine({ path: store });
      answer = { ...engine.format, supported: SCHEMA_VERSION };
      await engine.close();
    }
  } else {
    store = `${config.store.url.replace(/\/\/[^@/]*@/, '//')} prefix ${config.store.prefix}`;
    const { RedisJobEngine } = await import('../jobs/engines/redis/redis-engine.js');
    const { REDIS_FORMAT } = await import('../jobs/engines/redis/format.js');
    const engine = new RedisJobEngine({
      url: config.store.url,
      prefix: config.store.prefix,
      leaseMs: config.jobs.leaseMs,
      onError: () => {},
    });
    try {
      answer = { ...(await engine.format({ migrate: !check })), supported: REDIS_FORMAT };
    } finally {
      await engine.close();
    }
  }
  const current = answer.now === answer.supported;
  if (flags.json) process.stdout.write(`${JSON.stringify({ store, ...answer, current })}\n`);
  else if (answer.found === answer.now)
    process.stdout.write(
      `${store}: format version ${answer.now}${current ? ', current' : `, older than ${answer.supported}: run tasklane migrate`}\n`,
    );
  else process.stdout.write(`${store}: migrated from format version ${answer.found} to ${answer.now}\n`);
  return current ? 0 : 1;
}
