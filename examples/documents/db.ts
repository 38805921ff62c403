/**
 * The documents store: PostgreSQL through `pg`. Each worker thread opens its own pool through
 * `defineResource`, so a connection is only ever used on the thread (and event loop) that opened
 * it — the failure of the original system, a pool bound to one loop awaited on another, cannot
 * happen. Every pool records which thread opened it, and every connection which thread opened it.
 */
import { threadId } from 'node:worker_threads';
import pg from 'pg';
import { defineResource } from '../../src/index.js';

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

/** Creates the schema and tables (idempotent). Runs once at start on a short-lived client. */
export async function migrate(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { schema, ...config } = connectionConfig(env);
  const client = new pg.Client(config);
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${schema}.pools (
        thread_id integer NOT NULL, opened_at timestamptz NOT NULL DEFAULT now(), closed_at timestamptz);
      CREATE TABLE IF NOT EXISTS ${schema}.documents (
        id serial PRIMARY KEY, job_id text, title text NOT NULL, summary text NOT NULL, chunk_count integer NOT NULL,
        pool_thread integer NOT NULL, conn_thread integer NOT NULL, used_thread integer NOT NULL, backend_pid integer NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE IF NOT EXISTS ${schema}.chunks (
        document_id integer NOT NULL REFERENCES ${schema}.documents(id) ON DELETE CASCADE, idx integer NOT NULL,
        body text NOT NULL, summary text NOT NULL, used_thread integer NOT NULL, backend_pid integer NOT NULL,
        PRIMARY KEY (document_id, idx));`);
  } finally {
    await client.end();
  }
}

export interface Db {
  pool: pg.Pool;
  /** The thread that opened this pool. */
  threadId: number;
  /** The thread that opened each connection (the pool's 'connect' event runs where the socket lives). */
  connThreads: WeakMap<pg.PoolClient, number>;
}

/** One pool per thread, closed when its thread or the runtime closes. */
export const documentsDb = defineResource<Db>({
  name: 'documents.db',
  async create() {
    const { schema: _schema, ...config } = connectionConfig();
    const pool = new pg.Pool({ ...config, max: 2 });
    const connThreads = new WeakMap<pg.PoolClient, number>();
    pool.on('connect', (client) => connThreads.set(client, threadId));
    await pool.query('INSERT INTO pools (thread_id) VALUES ($1)', [threadId]);
    return { pool, threadId, connThreads };
  },
  async close(db) {
    try {
      await db.pool.query('UPDATE pools SET closed_at = now() WHERE thread_id = $1 AND closed_at IS NULL', [db.threadId]);
    } finally {
      await db.pool.end();
    }
  },
});
