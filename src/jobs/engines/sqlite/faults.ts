/**
 * Turns what SQLite throws into a StoreError that says what is wrong with the disk and how to fix
 * it. SQLite reports a write refused by the file system (read-only mount, permissions, an
 * immutable attribute) as a plain "disk I/O error", so the file and its folder are checked here.
 */
import { accessSync, constants, statfsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { StoreError, type ErrorCode } from '../../../errors.js';

const FIX_READONLY =
  'make the file, its -wal and -shm files and their folder writable, or set store.path (or --data, TASKLANE_DATA) to a writable place';
const FIX_FULL = 'free space on that disk, or set store.path (or --data, TASKLANE_DATA) to a disk with room';

/** Why the store's files cannot be written (the first refusal found), or undefined if they can. */
export function unwritable(path: string): string | undefined {
  for (const file of [path, `${path}-wal`, dirname(path)]) {
    try {
      accessSync(file, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A -wal that does not exist yet is no refusal.
      if (code === 'ENOENT') continue;
      return `${code} on ${file === dirname(path) ? 'its folder' : basename(file)}`;
    }
  }
  return undefined;
}

/** Bytes free for this process on the disk holding `path`, or undefined if it cannot be read. */
export function freeBytes(path: string): number | undefined {
  try {
    const s = statfsSync(dirname(path));
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** A StoreError for an SQLite failure while doing `what` on the store at `path`. */
export function storeError(err: unknown, path: string, what: string): StoreError {
  const e = err as { code?: string; message?: string };
  const sqlite = e.message ?? String(err);
  const sqliteCode = typeof e.code === 'string' ? e.code : '';
  let code: ErrorCode = 'TL_ERR_STORE_UNAVAILABLE';
  let message = `${what}: ${sqlite}`;
  if (sqliteCode === 'SQLITE_FULL') {
    const free = freeBytes(path);
    code = 'TL_ERR_STORE_FULL';
    message = `${what}: the disk holding ${path} is full${free === undefined ? '' : ` (${free} bytes free)`}; ${FIX_FULL}`;
  } else if (
    sqliteCode.startsWith('SQLITE_READONLY') ||
    sqliteCode.startsWith('SQLITE_IOERR') ||
    sqliteCode.startsWith('SQLITE_CANTOPEN')
  ) {
    const refused = unwritable(path);
    if (refused) {
      code = 'TL_ERR_STORE_READONLY';
      message = `${what}: ${path} cannot be written (${refused}); ${FIX_READONLY}`;
    } else if (sqliteCode.startsWith('SQLITE_READONLY')) {
      code = 'TL_ERR_STORE_READONLY';
      message = `${what}: ${sqlite}; ${FIX_READONLY}`;
    } else if (sqliteCode.startsWith('SQLITE_IOERR')) {
      code = 'TL_ERR_STORE_IO';
      message = `${what}: ${sqlite} (${sqliteCode}) on ${path}; check the disk`;
    }
  }
  return new StoreError(code, message, { cause: err, details: { path, sqlite: sqliteCode || undefined, setting: 'store.path' } });
}
