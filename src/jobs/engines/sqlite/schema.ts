/**
 * The SQLite store's tables and their migrations. `PRAGMA user_version` records how many
 * migrations a file has; each runs once, in order, inside one IMMEDIATE transaction, so several
 * processes opening the same new file migrate it once.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreError } from '../../../errors.js';
import { WORKFLOW_MIGRATION } from './journal.js';

/** Each step from version i to i + 1 (exported for the upgrade tests). */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE jobs (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    task TEXT NOT NULL,
    state TEXT NOT NULL,
    input TEXT NOT NULL,
    result TEXT,
    error TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    idem_key TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    progress TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    worker_id TEXT,
    token TEXT,
    lease_until INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0
  );
  -- Claim order among ready jobs: highest priority, then earliest runAt, then insertion.
  CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, n) WHERE state = 'queued';
  -- Delayed jobs become queued once due (at claim time).
  CREATE INDEX jobs_delayed ON jobs (run_at) WHERE state = 'delayed';
  CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'running';
  CREATE INDEX jobs_task ON jobs (task, n);
  -- (Migration 5 replaces jobs_ready, jobs_delayed and jobs_ended; see there.)
  CREATE INDEX jobs_ended ON jobs (state, n) WHERE state IN ('dead', 'cancelled');
  CREATE UNIQUE INDEX jobs_idem ON jobs (idem_key) WHERE idem_key IS NOT NULL;
  CREATE TABLE job_events (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    at INTEGER NOT NULL,
    attempt INTEGER,
    PRIMARY KEY (job_id, seq)
  ) WITHOUT ROWID;
  `,
  // Files made by earlier builds of the first version: the same indexes as above.
  `
  DROP INDEX IF EXISTS jobs_due;
  DROP INDEX IF EXISTS jobs_state;
  CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (priority DESC, run_at, n) WHERE state = 'queued';
  CREATE INDEX IF NOT EXISTS jobs_delayed ON jobs (run_at) WHERE state = 'delayed';
  CREATE INDEX IF NOT EXISTS jobs_ended ON jobs (state, n) WHERE state IN ('dead', 'cancelled');
  CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs (idem_key) WHERE idem_key IS NOT NULL;
  `,
  // One row written while the store refuses writes, to notice that it is back.
  `
  CREATE TABLE IF NOT EXISTS store_probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
  `,
  // Ended jobs by finish time, for retention (one index entry per job, written when it ends).
  `
  CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at) WHERE state IN ('succeeded', 'dead', 'cancelled');
  `,
  // Who made each job (client key name, tenant). Partial indexes: jobs made without a key (auth
  // off, in code) cost no index entry, and the owner never changes, so no transition rewrites them.
  `
  ALTER TABLE jobs ADD COLUMN owner_key TEXT;
  ALTER TABLE jobs ADD COLUMN owner_tenant TEXT;
  CREATE INDEX jobs_owner ON jobs (owner_key, n) WHERE owner_key IS NOT NULL;
  CREATE INDEX jobs_tenant ON jobs (owner_tenant, n) WHERE owner_tenant IS NOT NULL;
  `,
  // Flat cost as the backlog grows. Ready and delayed jobs indexed per task, so a claim for one
  // task never walks another task's backlog; every list filter (state, task, state + task) read
  // from an index in list order; counts per (task, state) kept by triggers, so the overview reads
  // a few rows instead of counting. Additive: the old indexes these replace are dropped.
  `
  DROP INDEX IF EXISTS jobs_ready;
  DROP INDEX IF EXISTS jobs_delayed;
  DROP INDEX IF EXISTS jobs_ended;
  CREATE INDEX IF NOT EXISTS jobs_ready_task ON jobs (task, priority DESC, run_at, n) WHERE state = 'queued';
  CREATE INDEX IF NOT EXISTS jobs_delayed_task ON jobs (task, run_at) WHERE state = 'delayed';
  CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, n);
  CREATE INDEX IF NOT EXISTS jobs_task_state ON jobs (task, state, n);
  CREATE TABLE IF NOT EXISTS job_counts (
    task TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (task, state)
  ) WITHOUT ROWID;
  DELETE FROM job_counts;
  INSERT INTO job_counts (task, state, n) SELECT task, state, count(*) FROM jobs GROUP BY task, state;
  CREATE TRIGGER IF NOT EXISTS jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (task, state, n) VALUES (new.task, new.state, 1)
      ON CONFLICT (task, state) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER IF NOT EXISTS jobs_count_update AFTER UPDATE OF state ON jobs WHEN old.state <> new.state BEGIN
    UPDATE job_counts SET n = n - 1 WHERE task = old.task AND state = old.state;
    INSERT INTO job_counts (task, state, n) VALUES (new.task, new.state, 1)
      ON CONFLICT (task, state) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER IF NOT EXISTS jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1 WHERE task = old.task AND state = old.state;
  END;
  `,
  // The counters per owner too (key name, tenant; '' when none), so an owner's overview reads
  // counters as well. Rebuilt from the jobs the file holds.
  `
  DROP TRIGGER IF EXISTS jobs_count_insert;
  DROP TRIGGER IF EXISTS jobs_count_update;
  DROP TRIGGER IF EXISTS jobs_count_delete;
  DROP TABLE IF EXISTS job_counts;
  CREATE TABLE job_counts (
    task TEXT NOT NULL,
    state TEXT NOT NULL,
    owner_key TEXT NOT NULL,
    owner_tenant TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (task, state, owner_key, owner_tenant)
  ) WITHOUT ROWID;
  INSERT INTO job_counts (task, state, owner_key, owner_tenant, n)
    SELECT task, state, coalesce(owner_key, ''), coalesce(owner_tenant, ''), count(*) FROM jobs GROUP BY 1, 2, 3, 4;
  CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (task, state, owner_key, owner_tenant, n) VALUES (new.task, new.state, coalesce(new.owner_key, ''), coalesce(new.owner_tenant, ''), 1)
      ON CONFLICT (task, state, owner_key, owner_tenant) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs WHEN old.state <> new.state BEGIN
    UPDATE job_counts SET n = n - 1
      WHERE task = old.task AND state = old.state AND owner_key = coalesce(old.owner_key, '') AND owner_tenant = coalesce(old.owner_tenant, '');
    INSERT INTO job_counts (task, state, owner_key, owner_tenant, n) VALUES (new.task, new.state, coalesce(new.owner_key, ''), coalesce(new.owner_tenant, ''), 1)
      ON CONFLICT (task, state, owner_key, owner_tenant) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1
      WHERE task = old.task AND state = old.state AND owner_key = coalesce(old.owner_key, '') AND owner_tenant = coalesce(old.owner_tenant, '');
  END;
  `,
  // An owner's list filtered by state reads that owner's jobs of that state through an index, as
  // the unscoped lists do (partial: jobs made without a key cost nothing).
  `
  CREATE INDEX IF NOT EXISTS jobs_owner_state ON jobs (owner_key, state, n) WHERE owner_key IS NOT NULL;
  CREATE INDEX IF NOT EXISTS jobs_tenant_state ON jobs (owner_tenant, state, n) WHERE owner_tenant IS NOT NULL;
  `,
  // Workflows: parent, what a waiting job waits for, the step journal, kept signals (journal.ts).
  WORKFLOW_MIGRATION,
  // The traceparent of the span that made the job (tracing on), so its attempts join that trace
  // in whichever process runs them. Older binaries ignore the column.
  `
  ALTER TABLE jobs ADD COLUMN traceparent TEXT;
  `,
  // Schedules and per-task limits (src/jobs/schedules, src/jobs/limits): each schedule's latest
  // tick; a job's limit group, with jobs held back by a limit in the internal state 'held' (shown
  // as queued) so they stay out of the ready index; the starts of each group inside its window.
  `
  CREATE TABLE IF NOT EXISTS schedules (name TEXT PRIMARY KEY, last_tick_at INTEGER NOT NULL, last_job_id TEXT) WITHOUT ROWID;
  ALTER TABLE jobs ADD COLUMN grp TEXT;
  CREATE INDEX IF NOT EXISTS jobs_group ON jobs (task, grp, state, priority DESC, run_at, n) WHERE grp IS NOT NULL;
  CREATE TABLE IF NOT EXISTS limit_starts (n INTEGER PRIMARY KEY, task TEXT NOT NULL, grp TEXT NOT NULL, at INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS limit_starts_group ON limit_starts (task, grp, at);
  `,
  // A rate window counts starts, not admissions: each admission row names its job, whose start
  // time replaces the admission time once it started.
  `
  ALTER TABLE limit_starts ADD COLUMN job INTEGER;
  `,
];

/** Sets the connection up (WAL, busy timeout) and brings the schema to the latest version. */
export function openSchema(db: Database.Database, busyTimeoutMs: number): { found: number; now: number } {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  db.pragma('journal_mode = WAL');
  // In WAL mode NORMAL never corrupts and survives a process crash; only an OS crash or power loss
  // can drop the last commits. FULL would fsync on every claim and finish.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = OFF');
  // 16 MiB of page cache per connection (default 2 MiB): the hot index pages stay in memory.
  db.pragma('cache_size = -16000');
  let found = 0;
  const migrate = db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    found = version;
    // A newer binary's file: its rows may mean things this one does not know; refuse rather than guess.
    if (version > MIGRATIONS.length) throw storeTooNew(db.name, version);
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(withoutPresentColumns(db, MIGRATIONS[v]!));
    if (version < MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`);
  });
  migrate.immediate();
  return { found, now: Math.max(found, MIGRATIONS.length) };
}

/**
 * The migration without the `ALTER TABLE t ADD COLUMN c` statements whose column exists already
 * (SQLite has no IF NOT EXISTS there), so a file whose version was set back migrates again cleanly.
 */
function withoutPresentColumns(db: Database.Database, sql: string): string {
  return sql.replace(/ALTER TABLE (\w+) ADD COLUMN (\w+)[^;]*;/g, (stmt, table: string, column: string) => {
    const columns = db.pragma(`table_info(${table})`) as Array<{ name: string }>;
    return columns.some((c) => c.name === column) ? '' : stmt;
  });
}

/** A file's format version without changing it (0 = no such file yet). TL_ERR_STORE_TOO_NEW when newer. */
export function readSqliteFormat(file: string): { found: number; now: number } {
  if (!existsSync(file)) return { found: 0, now: 0 };
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const found = db.pragma('user_version', { simple: true }) as number;
    if (found > MIGRATIONS.length) throw storeTooNew(file, found);
    return { found, now: found };
  } finally {
    db.close();
  }
}

/** The format version this build writes (`PRAGMA user_version` of a file it has opened). */
export const SCHEMA_VERSION = MIGRATIONS.length;

function storeTooNew(file: string, found: number): StoreError {
  return new StoreError(
    'TL_ERR_STORE_TOO_NEW',
    `the job store ${file} has format version ${found}, newer than version ${MIGRATIONS.length} that this tasklane knows; run the newer tasklane, or restore a backup made before the upgrade`,
    { details: { file, found, supported: MIGRATIONS.length } },
  );
}
