/**
 * The document workflow: extract → chunk → summarize (AI) → store (PostgreSQL). It runs in a
 * worker thread of the `documents` lane; AI calls go to the main thread's orchestrator over the
 * thread's port, and the database pool is this thread's own.
 */
import { threadId } from 'node:worker_threads';
import type { WorkContext } from '../../src/index.js';
import { documentsDb } from './db.js';

export interface DocumentInput {
  title: string;
  format: 'text' | 'markdown' | 'html';
  body: string;
}

export interface DocumentResult {
  documentId: number;
  chunks: number;
  summary: string;
  /** The thread that ran the workflow, opened the pool and used the connection. */
  threadId: number;
}

export const SUMMARIZER_MODEL = 'summarizer';
const CHUNK_WORDS = 60;

export async function processDocument(input: DocumentInput, ctx: WorkContext): Promise<DocumentResult> {
  const text = extract(input);
  ctx.progress({ step: 'extract', chars: text.length });

  const chunks = chunk(text, CHUNK_WORDS);
  ctx.progress({ step: 'chunk', chunks: chunks.length });

  const summaries: string[] = [];
  for (const [i, body] of chunks.entries()) {
    ctx.signal.throwIfAborted();
    summaries.push(await summarize(ctx, `Summarize part ${i + 1} of "${input.title}" in one sentence:\n${body}`));
    ctx.progress({ step: 'summarize', done: i + 1, of: chunks.length });
  }
  const summary =
    chunks.length > 1
      ? await summarize(ctx, `Combine these summaries of "${input.title}":\n${summaries.join('\n')}`)
      : (summaries[0] ?? '');

  const documentId = await store(ctx, input.title, chunks, summaries, summary);
  ctx.progress({ step: 'store', documentId });
  return { documentId, chunks: chunks.length, summary, threadId };
}

async function summarize(ctx: WorkContext, prompt: string): Promise<string> {
  const answer = await ctx.ai.chat(
    { model: SUMMARIZER_MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 120 },
    { signal: ctx.signal },
  );
  return answer.completion.choices[0]?.message.content ?? '';
}

async function store(ctx: WorkContext, title: string, chunks: string[], summaries: string[], summary: string): Promise<number> {
  const db = await ctx.resource(documentsDb);
  const client = await db.pool.connect();
  try {
    const conn = db.connThreads.get(client);
    if (conn !== threadId || db.threadId !== threadId) {
      // Cannot happen by construction; if it ever did, fail loudly rather than store a lie.
      throw new Error(`connection opened on thread ${conn}, pool on thread ${db.threadId}, used on thread ${threadId}`);
    }
    const pid = (client as unknown as { processID: number }).processID;
    await client.query('BEGIN');
    const { rows } = await client.query<{ id: number }>(
      `INSERT INTO documents (job_id, title, summary, chunk_count, pool_thread, conn_thread, used_thread, backend_pid)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
      [typeof ctx.jobId === 'string' ? ctx.jobId : null, title, summary, chunks.length, db.threadId, conn, threadId, pid],
    );
    const id = rows[0]!.id;
    for (const [i, body] of chunks.entries()) {
      await client.query('INSERT INTO chunks (document_id, idx, body, summary, used_thread, backend_pid) VALUES ($1, $2, $3, $4, $5, $6)', [
        id,
        i,
        body,
        summaries[i],
        threadId,
        pid,
      ]);
    }
    await client.query('COMMIT');
    return id;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined); // the original error is what matters
    throw err;
  } finally {
    client.release();
  }
}

/** Plain text from the document (tags and markdown marks dropped, whitespace collapsed). */
export function extract(input: DocumentInput): string {
  let text = input.body;
  if (input.format === 'html') {
    text = text
      .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
      .replace(/<[^>]+>/g, ' ')
      .replace(/&nbsp;/g, ' ')
      .replace(/&amp;/g, '&')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>');
  } else if (input.format === 'markdown') {
    text = text
      .replace(/```[\s\S]*?```/g, ' ')
      .replace(/!\[[^\]]*\]\([^)]*\)/g, ' ')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/^#{1,6}\s+/gm, '')
      .replace(/[*_`>]/g, '');
  }
  return text.replace(/\s+/g, ' ').trim();
}

/** Chunks of at most `words` words. */
export function chunk(text: string, words: number): string[] {
  const all = text.split(' ').filter(Boolean);
  const out: string[] = [];
  for (let i = 0; i < all.length; i += words) out.push(all.slice(i, i + words).join(' '));
  return out;
}
