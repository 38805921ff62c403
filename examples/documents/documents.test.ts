/**
 * Seed 002: Celery tasks, LangGraph workflows and asyncpg pools each made their own event loops,
 * and a pool's futures were awaited on another loop ("attached to a different loop"). Here 20
 * documents go through the durable workflow at once (pages as child jobs, an AI step each, a join,
 * an aggregate step, a store step in worker threads); every thread opens its own pool, every
 * connection is used only on the thread that opened it (recorded in the database itself), and
 * every pool is closed when the runtime closes. Needs PostgreSQL on 127.0.0.1:5432. The kill and
 * restart mid-run is durable.test.ts.
 */
import type pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../../test/support/mock-provider.js';
import { LogCapture, tempDir } from '../../test/support/runtime.js';
import { startDocuments } from './app.js';
import { connectAdmin, PG, testSchema } from './pg-admin.js';
import type { DocumentResult } from './pipeline.js';

const SCHEMA = testSchema();

function documentBody(i: number): { title: string; format: 'text' | 'markdown' | 'html'; body: string } {
  const words = Array.from({ length: 120 + (i % 5) * 40 }, (_, w) => `word${i}_${w}`);
  const text = words.join(' ');
  if (i % 3 === 0)
    return { title: `Report ${i}`, format: 'markdown', body: `# Report ${i}\n\n**Summary**: ${text}\n\n[link](http://example.test)` };
  if (i % 3 === 1)
    return {
      title: `Page ${i}`,
      format: 'html',
      body: `<html><head><style>p{}</style></head><body><h1>Page ${i}</h1><p>${text}</p></body></html>`,
    };
  return { title: `Note ${i}`, format: 'text', body: text };
}

describe('documents (seed 002)', () => {
  let admin: pg.Client | undefined;
  let mock: MockProvider | undefined;
  let app: Awaited<ReturnType<typeof startDocuments>> | undefined;
  let tmp: ReturnType<typeof tempDir> | undefined;

  /** Connected in the test itself, so that a missing server fails the test (a failing hook would mark it skipped). */
  async function database(): Promise<pg.Client> {
    if (admin) return admin;
    const { client, user } = await connectAdmin();
    admin = client;
    // Read by the app on the main thread (migration) and by each worker thread (its pool).
    process.env.DOCUMENTS_DATABASE_URL = `postgres://${user}@${PG.host}:${PG.port}/${PG.database}`;
    process.env.DOCUMENTS_SCHEMA = SCHEMA;
    return client;
  }

  afterEach(async () => {
    await app?.close();
    await mock?.close();
    tmp?.remove();
    app = mock = tmp = undefined;
  });

  afterAll(async () => {
    if (!admin) return;
    await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await admin.end();
  });

  it('processes 20 documents concurrently across threads; no connection crosses a thread; every pool closes', async () => {
    const admin = await database();
    mock = await startMockProvider();
    tmp = tempDir('documents-');
    app = await startDocuments({
      summarizer: { baseURL: `${mock.url}/v1`, apiKeys: ['docs-key'], model: 'gpt-mock' },
      config: { server: { port: 0 }, data: tmp.dir, log: { level: 'warn' }, jobs: { pollMs: 50 } },
      logDestination: new LogCapture(),
    });
    const { url, runtime } = app;

    const ids = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await fetch(`${url}/documents`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(documentBody(i)),
        });
        expect(res.status).toBe(202);
        return ((await res.json()) as { id: string }).id;
      }),
    );

    // Follow every workflow to its end; record the steps it completed and the pages it spawned.
    const steps = new Map<string, string[]>();
    const pages = new Map<string, number>();
    await Promise.all(
      ids.map(async (id) => {
        const seen: string[] = [];
        let spawned = 0;
        for await (const e of runtime.jobs.subscribe(id)) {
          if (e.type === 'step.completed') seen.push((e.data as { name: string }).name);
          if (e.type === 'child.started') spawned++;
          if (e.type === 'dead') throw new Error(`job ${id} died: ${JSON.stringify(e.data)}`);
        }
        steps.set(id, seen);
        pages.set(id, spawned);
      }),
    );
    const results = new Map<string, DocumentResult>();
    for (const id of ids) {
      const res = await fetch(`${url}/documents/${id}`);
      const body = (await res.json()) as { state: string; result: DocumentResult };
      expect(body.state).toBe('succeeded');
      results.set(id, body.result);
      expect(steps.get(id)).toEqual(['extract', 'split', 'aggregate', 'store']);
      // One child job per page, each with its AI extraction step.
      expect(pages.get(id)).toBe(body.result.chunks);
    }

    // Work ran on several worker threads, never on the main thread (threadId 0).
    const threads = new Set([...results.values()].map((r) => r.threadId));
    expect(threads.has(0)).toBe(false);
    expect(threads.size).toBeGreaterThanOrEqual(2);
    expect(threads.size).toBeLessThanOrEqual(4);

    const docs = await admin.query<{
      job_id: string;
      chunk_count: number;
      pool_thread: number;
      conn_thread: number;
      used_thread: number;
      backend_pid: number;
      summary: string;
      title: string;
    }>(`SELECT job_id, chunk_count, pool_thread, conn_thread, used_thread, backend_pid, summary, title FROM ${SCHEMA}.documents`);
    expect(docs.rows).toHaveLength(20);
    const pidThread = new Map<number, number>();
    for (const row of docs.rows) {
      const result = results.get(row.job_id)!;
      // The pool, the connection and the use: one thread, the one that ran the job.
      expect(row.pool_thread).toBe(result.threadId);
      expect(row.conn_thread).toBe(result.threadId);
      expect(row.used_thread).toBe(result.threadId);
      expect(row.chunk_count).toBe(result.chunks);
      expect(row.summary).toContain('echo:');
      // A server backend (one connection) is only ever seen from one thread.
      expect(pidThread.get(row.backend_pid) ?? row.used_thread).toBe(row.used_thread);
      pidThread.set(row.backend_pid, row.used_thread);
    }
    const chunks = await admin.query<{ n: string; bad: string }>(
      `SELECT count(*) AS n, count(*) FILTER (WHERE c.used_thread <> d.used_thread OR c.backend_pid <> d.backend_pid) AS bad
         FROM ${SCHEMA}.chunks c JOIN ${SCHEMA}.documents d ON d.id = c.document_id`,
    );
    const totalChunks = [...results.values()].reduce((n, r) => n + r.chunks, 0);
    expect(Number(chunks.rows[0]!.n)).toBe(totalChunks);
    expect(Number(chunks.rows[0]!.bad)).toBe(0);
    // One summary per page, plus one combined summary per multi-page document: no call twice.
    const expectedCalls = [...results.values()].reduce((n, r) => n + r.chunks + (r.chunks > 1 ? 1 : 0), 0);
    expect(mock.calls.filter((c) => c.path.endsWith('/chat/completions'))).toHaveLength(expectedCalls);

    // One pool per thread that stored something, all open while the app runs.
    const open = await admin.query<{ thread_id: number; closed_at: Date | null }>(
      `SELECT thread_id, closed_at FROM ${SCHEMA}.pools ORDER BY thread_id`,
    );
    expect(open.rows.map((r) => r.thread_id)).toEqual([...threads].sort((a, b) => a - b));
    expect(open.rows.every((r) => r.closed_at === null)).toBe(true);
    const appName = `tasklane-${SCHEMA}`;
    const live = await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [appName]);
    expect(live.rows.length).toBeGreaterThan(0);

    await app.close();
    app = undefined;

    // Every pool was closed by its own thread, and no connection of the app is left on the server.
    const closed = await admin.query<{ closed_at: Date | null }>(`SELECT closed_at FROM ${SCHEMA}.pools`);
    expect(closed.rows.length).toBe(threads.size);
    expect(closed.rows.every((r) => r.closed_at !== null)).toBe(true);
    let left = -1;
    for (let i = 0; i < 50 && left !== 0; i++) {
      // The server drops a backend a moment after its client said goodbye.
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      left = (await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [appName])).rows.length;
    }
    expect(left).toBe(0);
    expect(mock.openConnections).toBe(0);
  }, 60_000);
});
