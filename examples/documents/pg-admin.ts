/** The documents tests' PostgreSQL: an admin connection (user postgres, else root; trust auth) that fails loudly, never skips. */
import pg from 'pg';

export const PG = { host: '127.0.0.1', port: 5432, database: 'test' };

export async function connectAdmin(): Promise<{ client: pg.Client; user: string }> {
  const errors: string[] = [];
  for (const user of ['postgres', 'root']) {
    const client = new pg.Client({ ...PG, user, connectionTimeoutMillis: 3_000 });
    client.on('error', () => undefined); // a query in flight rejects with the same error
    try {
      await client.connect();
      return { client, user };
    } catch (err) {
      errors.push(`${user}: ${(err as Error).message}`);
      await client.end().catch(() => undefined);
    }
  }
  throw new Error(
    `PostgreSQL is not reachable at ${PG.host}:${PG.port} (database "${PG.database}") as user postgres or root — ${errors.join('; ')}. ` +
      'Start it (.ci/run starts it when absent); this test needs a real database and does not skip.',
  );
}

/** A schema name of its own for one test run. */
export function testSchema(): string {
  return `tl_docs_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
