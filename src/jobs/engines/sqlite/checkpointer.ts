/**
 * Moves the SQLite WAL checkpoint off the event loop (issue 22). With auto-checkpoint on, the
 * commit that crosses 1,000 WAL pages copies them into the file and fsyncs it on the loop: 40 to
 * 90 ms with a 100k-job store, hundreds at 1M. Here the engine's connection turns auto-checkpoint
 * off and a worker thread with its own connection runs PASSIVE checkpoints, which never block
 * the engine's reads or writes. Closing the engine's connection still checkpoints what is left.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** How often the worker checkpoints (ms): often enough that the WAL stays a few MB under load. */
const CHECKPOINT_MS = 250;

// CommonJS in an eval worker: no file to find next to the compiled module, in src or in dist.
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
}, workerData.everyMs);
`;

export class Checkpointer {
  readonly #worker?: Worker;

  /** Takes over checkpoints for `db` at `path`; an in-memory or non-WAL database keeps SQLite's own. */
  constructor(db: Database.Database, path: string) {
    if (path === ':memory:' || db.pragma('journal_mode', { simple: true }) !== 'wal') return;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER, { eval: true, workerData: { driver, path, everyMs: CHECKPOINT_MS } });
    // A worker that fails (cannot open the file) hands checkpoints back to the connection.
    worker.on('error', () => db.open && db.pragma('wal_autocheckpoint = 1000'));
    worker.unref();
    db.pragma('wal_autocheckpoint = 0');
    this.#worker = worker;
  }

  /** Stops the worker (a checkpoint under way finishes first) so the engine's close is the file's last user. */
  async close(): Promise<void> {
    const w = this.#worker;
    if (!w) return;
    // Held (ref) while it ends: a close awaited as the process's last work must not find an empty loop.
    w.ref();
    await w.terminate();
  }
}
