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
  return db.save({ jobId: String(ctx.jobId), title, summary, chunks, summaries });
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
