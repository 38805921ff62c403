/**
 * Online backup of the SQLite store: SQLite's backup API (better-sqlite3 `backup()`) copies the
 * database page by page on its own connection, so a running server keeps reading and writing
 * (WAL mode: its writes never wait for the copy). The copy is a consistent snapshot, checked with
 * `PRAGMA integrity_check` before it is reported as done.
 */
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreError } from '../../../errors.js';
import { storeError } from './faults.js';

export interface BackupResult {
  file: string;
  bytes: number;
  pages: number;
  /** Format version of the copy (`PRAGMA user_version`). */
  format: number;
  jobs: number;
}

/** Copies the live store at `source` to `dest` (written beside it as `<dest>.partial`, then renamed). */
export async function backupSqlite(source: string, dest: string): Promise<BackupResult> {
  if (!existsSync(source)) {
    throw new StoreError('TL_ERR_STORE_UNAVAILABLE', `no job store at ${source}; check --config / --data (store.path)`, {
      details: { path: source, setting: 'store.path' },
    });
  }
  const partial = `${dest}.partial`;
  rmSync(partial, { force: true });
  let db: Database.Database | undefined;
  let pages = 0;
  try {
    db = new Database(source, { fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    await db.backup(partial, {
      progress({ totalPages }) {
        pages = totalPages;
        // Pages per step: large enough to be quick, small enough that the server's writers interleave.
        return 1_024;
      },
    });
  } catch (err) {
    rmSync(partial, { force: true });
    throw storeError(err, source, `backing up to ${dest}`);
  } finally {
    db?.close();
  }
  const copy = new Database(partial, { fileMustExist: true });
  try {
    const check = copy.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new StoreError('TL_ERR_STORE_IO', `the backup ${dest} failed its integrity check: ${String(check)}`);
    const format = copy.pragma('user_version', { simple: true }) as number;
    const jobs = format > 0 ? (copy.prepare('SELECT count(*) AS n FROM jobs').get() as { n: number }).n : 0;
    // One file, no -wal: the copy stands alone.
    copy.pragma('journal_mode = DELETE');
    copy.close();
    renameSync(partial, dest);
    const { size } = statSync(dest);
    return { file: dest, bytes: size, pages, format, jobs };
  } catch (err) {
    if (copy.open) copy.close();
    rmSync(partial, { force: true });
    throw err;
  }
}
