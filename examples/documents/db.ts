/**
 * The documents store: PostgreSQL through `pg` (the default), or a SQLite file for a machine
 * without PostgreSQL (`DOCUMENTS_STORE=sqlite`, or `npm run example -- documents --no-postgres`).
 * Either way each worker thread opens its own handle through `defineResource`, so a connection is
 * only ever used on the thread (and event loop) that opened it — the failure of the original
 * system, a pool bound to one loop awaited on another, cannot happen. Every pool records which
 * thread opened it, and every connection which thread opened it.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { threadId } from 'node:worker_threads';
import Database from 'better-sqlite3';
import pg from 'pg';
import { defineResource } from '../../src/index.js';

export type StoreKind = 'postgres' | 'sqlite';

/** DOCUMENTS_STORE: `postgres` (default) or `sqlite` (no server needed; a file at DOCUMENTS_SQLITE_PATH). */
export function storeKind(env: NodeJS.ProcessEnv = process.env): StoreKind {
  const kind = env.DOCUMENTS_STORE ?? 'postgres';
  if (kind !== 'postgres' && kind !== 'sqlite') throw new Error(`DOCUMENTS_STORE "${kind}" is not a store: use "postgres" or "sqlite"`);
  return kind;
}

/** DOCUMENTS_SQLITE_PATH, default ./data/examples/documents/documents.db. */
export function sqlitePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCUMENTS_SQLITE_PATH ?? './data/examples/documents/documents.db';
}

/**
 * Connection settings, from the environment (read in every thread the same way):
 * DOCUMENTS_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) and DOCUMENTS_SCHEMA
 * (default "documents").
 */
export function connectionConfig(env: NodeJS.ProcessEnv = process.env): pg.PoolConfig & { schema: string } {
  const schema = env.DOCUMENTS_SCHEMA ?? 'documents';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`DOCUMENTS_SCHEMA "${schema}" is not a plain lower-case SQL name`);
  return {
    connectionString: env.DOCUMENTS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    // Every connection of this app says who it is, so leftovers are visible in pg_stat_activity.
    application_name: `tasklane-${schema}`,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 5_000,
    schema,
  };
}

const TABLES = (s: string, serial: string, ts: string) => `
  CREATE TABLE IF NOT EXISTS ${s}pools (
    thread_id integer NOT NULL, opened_at ${ts} NOT NULL DEFAULT CURRENT_TIMESTAMP, closed_at ${ts});
  CREATE TABLE IF NOT EXISTS ${s}documents (
    id ${serial} PRIMARY KEY, job_id text UNIQUE, title text NOT NULL, summary text NOT NULL, chunk_count integer NOT NULL,
    pool_thread integer NOT NULL, conn_thread integer NOT NULL, used_thread integer NOT NULL, backend_pid integer NOT NULL,
    stored_at ${ts} NOT NULL DEFAULT CURRENT_TIMESTAMP);
  CREATE TABLE IF NOT EXISTS ${s}chunks (
    document_id integer NOT NULL REFERENCES ${s}documents(id) ON DELETE CASCADE, idx integer NOT NULL,
    body text NOT NULL, summary text NOT NULL, used_thread integer NOT NULL, backend_pid integer NOT NULL,
    PRIMARY KEY (document_id, idx));`;

/** Creates the schema and tables (idempotent). Runs once at start on a short-lived connection. */
export async function migrate(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (storeKind(env) === 'sqlite') {
    const path = sqlitePath(env);
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.exec(TABLES('', 'integer', 'text'));
    } finally {
      db.close();
    }
    return;
  }
  const { schema, ...config } = connectionConfig(env);
  const client = new pg.Client(config);
  // A connection that breaks while idle emits 'error'; without a listener that ends the process.
  client.on('error', () => undefined); // the query in flight (if any) rejects with the same error
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(TABLES(`${schema}.`, 'serial', 'timestamptz'));
  } finally {
    await client.end();
  }
}

/** What the workflow's store step writes: the document, its pages and their summaries. */
export interface StoredDocument {
  jobId: string;
  title: string;
  summary: string;
  chunks: string[];
  summaries: string[];
}

export interface Db {
  kind: StoreKind;
  /** The thread that opened this handle. */
  threadId: number;
  /**
   * Stores the document once per job: a second call for the same job (the step replayed after a
   * crash between the commit and the step's own record) replaces the rows instead of adding more.
   */
  save(doc: StoredDocument): Promise<number>;
  /** Idle-connection errors the pool reported (PostgreSQL restarted, network cut); the next query reconnects. */
  idleErrors: number;
  close(): Promise<void>;
}

/** One pool (or SQLite connection) per thread, closed when its thread or the runtime closes. */
export const documentsDb = defineResource<Db>({
  name: 'documents.db',
  create: () => (storeKind() === 'sqlite' ? openSqlite() : openPostgres()),
  close: (db) => db.close(),
});

async function openPostgres(): Promise<Db> {
  const { schema: _schema, ...config } = connectionConfig();
  const pool = new pg.Pool({ ...config, max: 2 });
  const connThreads = new WeakMap<pg.PoolClient, number>();
  pool.on('connect', (client) => connThreads.set(client, threadId));
  const db: Db = {
    kind: 'postgres',
    threadId,
    idleErrors: 0,
    async save(doc) {
      const client = await pool.connect();
      try {
        const conn = connThreads.get(client);
        if (conn !== threadId) {
          // Cannot happen by construction; if it ever did, fail loudly rather than store a lie.
          throw new Error(`connection opened on thread ${conn}, pool on thread ${db.threadId}, used on thread ${threadId}`);
        }
        const pid = (client as unknown as { processID: number }).processID;
        await client.query('BEGIN');
        await client.query('DELETE FROM documents WHERE job_id = $1', [doc.jobId]);
        const { rows } = await client.query<{ id: number }>(
          `INSERT INTO documents (job_id, title, summary, chunk_count, pool_thread, conn_thread, used_thread, backend_pid)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
          [doc.jobId, doc.title, doc.summary, doc.chunks.length, db.threadId, conn, threadId, pid],
        );
        const id = rows[0]!.id;
        for (const [i, body] of doc.chunks.entries()) {
          await client.query(
            'INSERT INTO chunks (document_id, idx, body, summary, used_thread, backend_pid) VALUES ($1, $2, $3, $4, $5, $6)',
            [id, i, body, doc.summaries[i], threadId, pid],
          );
        }
        await client.query('COMMIT');
        return id;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined); // the original error is what matters
        throw err;
      } finally {
        client.release();
      }
    },
    async close() {
      try {
        await pool.query('UPDATE pools SET closed_at = now() WHERE thread_id = $1 AND closed_at IS NULL', [threadId]);
      } finally {
        await pool.end();
      }
    },
  };
  // An idle client whose connection breaks makes the pool emit 'error'; unheard, that would end
  // the whole server. pg has already dropped that client; the next query opens a new one.
  pool.on('error', () => void db.idleErrors++);
  await pool.query('INSERT INTO pools (thread_id) VALUES ($1)', [threadId]);
  return db;
}

function openSqlite(): Db {
  const sql = new Database(sqlitePath());
  sql.pragma('journal_mode = WAL');
  // Several threads write the one file: wait for the lock instead of failing at once.
  sql.pragma('busy_timeout = 5000');
  sql.pragma('foreign_keys = ON');
  sql.prepare('INSERT INTO pools (thread_id) VALUES (?)').run(threadId);
  const save = sql.transaction((doc: StoredDocument): number => {
    sql.prepare('DELETE FROM documents WHERE job_id = ?').run(doc.jobId);
    const id = Number(
      sql
        .prepare(
          `INSERT INTO documents (job_id, title, summary, chunk_count, pool_thread, conn_thread, used_thread, backend_pid)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(doc.jobId, doc.title, doc.summary, doc.chunks.length, threadId, threadId, threadId, process.pid).lastInsertRowid,
    );
    const chunk = sql.prepare('INSERT INTO chunks (document_id, idx, body, summary, used_thread, backend_pid) VALUES (?, ?, ?, ?, ?, ?)');
    for (const [i, body] of doc.chunks.entries()) chunk.run(id, i, body, doc.summaries[i], threadId, process.pid);
    return id;
  });
  return {
    kind: 'sqlite',
    threadId,
    idleErrors: 0,
    save: async (doc) => save(doc),
    async close() {
      sql.prepare('UPDATE pools SET closed_at = CURRENT_TIMESTAMP WHERE thread_id = ? AND closed_at IS NULL').run(threadId);
      sql.close();
    },
  };
}
