/**
 * Issue #14: the document workflow is durable. The server (a real process, `main.ts`) is SIGKILLed
 * while the pages' AI extraction steps are running and started again on the same data folder;
 * the workflow goes on where it was. The mock provider (in this process, so its counts outlive
 * the server) shows that no step that had completed before the kill called the model again, and
 * the stored document is whole: every page, its summary, the combined summary, once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, afterEach, expect, it } from 'vitest';
import { TasklaneClient, type JobEvent } from '../../src/client/index.js';
import { startMockProvider, type MockCall, type MockProvider } from '../../test/support/mock-provider.js';
import { tempDir } from '../../test/support/runtime.js';
import { connectAdmin, PG, testSchema } from './pg-admin.js';
import { PAGE_WORDS } from './pipeline.js';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const PAGES = 12;
const SCHEMA = testSchema();

let admin: pg.Client | undefined;
let mock: MockProvider | undefined;
const servers: ChildProcess[] = [];
const tmp = tempDir('documents-durable-');

afterEach(async () => {
  for (const s of servers.splice(0)) await stop(s, 'SIGKILL');
  await mock?.close();
});
afterAll(async () => {
  tmp.remove();
  if (!admin) return;
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.end();
});

async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

/** `main.ts` in a process of its own; resolves with its URL once it listens. */
async function startServer(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not listen within 30 s: ${stderr}`)), 30_000);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /^listening (\S+)/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before it listened: ${stderr}`)));
  });
  return { child, url };
}

const promptOf = (c: MockCall): string => String(c.body?.messages?.at(-1)?.content ?? '');
const pageOf = (c: MockCall): number | undefined => {
  const m = /^Summarize page (\d+) of/.exec(promptOf(c));
  return m ? Number(m[1]) - 1 : undefined;
};

async function events(client: TasklaneClient, id: string): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of client.jobs.events(id, { signal: AbortSignal.timeout(20_000) })) out.push(e);
  return out;
}

it('SIGKILLed mid-run and restarted: completed steps never call the model again, and the document is whole', async () => {
  const { client: db, user } = await connectAdmin();
  admin = db;
  mock = await startMockProvider();
  // Slow answers, so that the kill lands while some pages are done and others are not.
  mock.respond(async (call) => {
    if (pageOf(call) !== undefined) await new Promise((r) => setTimeout(r, 400));
    return undefined;
  });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    TASKLANE_DATA: tmp.dir,
    DOCUMENTS_DATABASE_URL: `postgres://${user}@${PG.host}:${PG.port}/${PG.database}`,
    DOCUMENTS_SCHEMA: SCHEMA,
    DOCUMENTS_AI_BASE_URL: `${mock.url}/v1`,
    // A dead server's leases lapse quickly, so the restarted one takes its jobs over within seconds.
    DOCUMENTS_LEASE_MS: '1500',
  };
  const first = await startServer(env);
  const body = Array.from({ length: PAGES * PAGE_WORDS }, (_, i) => `w${i}`).join(' ');
  const posted = await fetch(`${first.url}/documents`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'Durable', format: 'text', body }),
  });
  expect(posted.status).toBe(202);
  const { id } = (await posted.json()) as { id: string };

  // Kill once a few pages have finished (their steps are in the store for sure), while others are
  // in flight or not started (more pages than the lane runs at once).
  const until = Date.now() + 30_000;
  const finished = async () =>
    ((await (await fetch(`${first.url}/v1/jobs?task=documents.page&state=succeeded&limit=100`)).json()) as { jobs: unknown[] }).jobs.length;
  while ((await finished()) < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  expect(await finished()).toBeGreaterThanOrEqual(3);
  const killedAt = Date.now();
  await stop(first.child, 'SIGKILL');
  const callsBeforeKill = mock.calls.length;
  expect(callsBeforeKill).toBeLessThan(PAGES + 1);

  const second = await startServer(env);
  const client = new TasklaneClient({ url: second.url });
  const parentEvents = await events(client, id);
  expect(parentEvents.at(-1)).toMatchObject({ type: 'succeeded' });
  const result = (parentEvents.at(-1)!.data as { result: { documentId: number; chunks: number; summary: string } }).result;
  expect(result.chunks).toBe(PAGES);

  // Which page steps completed before the kill: a step.completed stored before it, or a replay after it.
  const pages = (await client.jobs.list({ task: 'documents.page', limit: 100 })).jobs;
  expect(pages).toHaveLength(PAGES);
  const doneBefore = new Set<number>();
  const doneAfter = new Set<number>();
  for (const page of pages) {
    // Lists leave the input out: ask for the page's record.
    const index = ((await client.jobs.get(page.id)).input as { index: number }).index;
    const evs = await events(client, page.id);
    const completed = evs.find((e) => e.type === 'step.completed');
    if (evs.some((e) => e.type === 'step.replayed') || (completed && completed.at < killedAt)) doneBefore.add(index);
    else doneAfter.add(index);
  }
  // The kill really was mid-run.
  expect(doneBefore.size).toBeGreaterThan(0);
  expect(doneAfter.size).toBeGreaterThan(0);

  const byPage = new Map<number, number>();
  for (const c of mock.calls) {
    const p = pageOf(c);
    if (p !== undefined) byPage.set(p, (byPage.get(p) ?? 0) + 1);
  }
  for (let p = 0; p < PAGES; p++) {
    expect(byPage.get(p) ?? 0, `page ${p}`).toBeGreaterThanOrEqual(1);
    // A step completed before the kill is replayed from the store: the model was asked once.
    if (doneBefore.has(p)) expect(byPage.get(p), `page ${p} (completed before the kill)`).toBe(1);
  }
  // At most the pages in flight at the kill were asked twice; the combining call came once, after the restart.
  const combines = mock.calls.filter((c) => promptOf(c).startsWith('Combine these summaries'));
  expect(combines).toHaveLength(1);
  expect(mock.calls.length).toBeLessThanOrEqual(PAGES + 1 + (PAGES - doneBefore.size));

  // The stored document is whole: every page once, in order, each with its own summary.
  const rows = await admin.query<{ id: number; chunk_count: number; summary: string }>(
    `SELECT id, chunk_count, summary FROM ${SCHEMA}.documents WHERE job_id = $1`,
    [id],
  );
  expect(rows.rows).toHaveLength(1);
  expect(rows.rows[0]).toMatchObject({ id: result.documentId, chunk_count: PAGES });
  const chunks = await admin.query<{ idx: number; summary: string }>(
    `SELECT idx, summary FROM ${SCHEMA}.chunks WHERE document_id = $1 ORDER BY idx`,
    [result.documentId],
  );
  expect(chunks.rows.map((r) => r.idx)).toEqual(Array.from({ length: PAGES }, (_, i) => i));
  for (const r of chunks.rows) expect(r.summary).toContain(`page ${r.idx + 1} of ${PAGES}`);
  await stop(second.child, 'SIGTERM');
}, 120_000);
