/**
 * Issue #16 (examples show their point when run): the documents example runs on a machine without
 * PostgreSQL with `--no-postgres`, storing into a SQLite file instead — through `npm run
 * example`'s runner, a real process, with PostgreSQL's address pointing at a closed port.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { tempDir } from '../../test/support/runtime.js';

const RUN = fileURLToPath(new URL('../run.js', import.meta.url));
const tmp = tempDir('documents-nopg-');
afterAll(() => tmp.remove());

it('--no-postgres: starts with PostgreSQL unreachable, says where it stores, and stores the document in a SQLite file', async () => {
  const child = spawn(process.execPath, [RUN, 'documents', '--no-postgres'], {
    cwd: tmp.dir,
    env: { PATH: process.env.PATH, TASKLANE_DATA: tmp.dir, DOCUMENTS_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  try {
    const until = Date.now() + 45_000;
    while (!/store: SQLite file/.test(stdout) && child.exitCode === null && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    const url = /running at (\S+)/.exec(stdout)?.[1];
    expect(url, `stdout: ${stdout}\nstderr: ${stderr}`).toBeDefined();
    const file = join(tmp.dir, 'documents.db');
    expect(stdout).toContain(`store: SQLite file ${file} (--no-postgres)`);
    const body = Array.from({ length: 150 }, (_, i) => `word${i}`).join(' ');
    const posted = await fetch(`${url}/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'No server', format: 'text', body }),
    });
    expect(posted.status).toBe(202);
    const { id } = (await posted.json()) as { id: string };
    let doc: { state: string; result: { documentId: number; chunks: number } | null } = { state: 'queued', result: null };
    for (let i = 0; i < 300 && doc.state !== 'succeeded' && doc.state !== 'dead'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      doc = (await (await fetch(`${url}/documents/${id}`)).json()) as typeof doc;
    }
    expect(doc.state).toBe('succeeded');
    const db = new Database(file, { readonly: true });
    try {
      const row = db.prepare('SELECT id, title, chunk_count, summary FROM documents WHERE job_id = ?').get(id) as {
        id: number;
        title: string;
        chunk_count: number;
        summary: string;
      };
      expect(row).toMatchObject({ id: doc.result!.documentId, title: 'No server', chunk_count: doc.result!.chunks });
      expect(row.summary).toContain('echo:');
      expect((db.prepare('SELECT count(*) AS n FROM chunks WHERE document_id = ?').get(row.id) as { n: number }).n).toBe(
        doc.result!.chunks,
      );
    } finally {
      db.close();
    }
  } finally {
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  }
}, 60_000);
