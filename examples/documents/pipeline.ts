/**
 * The document workflow's pieces: plain text from a document, pages of it, the AI calls (one
 * extraction per page, one combining summary), and the store step that runs in a worker thread of
 * the `documents` lane with that thread's own database handle. The workflow itself (steps, child
 * jobs, join) is in tasks.ts.
 */
import { threadId } from 'node:worker_threads';
import type { TaskContext, WorkContext } from '../../src/index.js';
import { documentsDb } from './db.js';

export interface DocumentInput {
  title: string;
  format: 'text' | 'markdown' | 'html';
  body: string;
}

export interface DocumentResult {
  documentId: number;
  /** Pages (each one a child job with its own AI extraction step). */
  chunks: number;
  summary: string;
  /** The thread that ran the store step, opened the pool and used the connection. */
  threadId: number;
}

export interface PageInput {
  title: string;
  index: number;
  of: number;
  body: string;
}

export interface PageResult {
  index: number;
  summary: string;
}

export interface StoreInput {
  jobId: string;
  title: string;
  chunks: string[];
  summaries: string[];
  summary: string;
}

export const SUMMARIZER_MODEL = 'summarizer';
/** Words per page. */
export const PAGE_WORDS = 60;

/** The prompt of page `index` (the mock provider's calls are counted by it in the tests). */
export function pagePrompt(p: PageInput): string {
  return `Summarize page ${p.index + 1} of ${p.of} of "${p.title}" in one sentence:\n${p.body}`;
}

export function combinePrompt(title: string, summaries: string[]): string {
  return `Combine these summaries of "${title}":\n${summaries.join('\n')}`;
}

export async function summarize(ctx: Pick<TaskContext, 'ai' | 'signal'>, prompt: string): Promise<string> {
  const answer = await ctx.ai.chat(
    { model: SUMMARIZER_MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 120 },
    { signal: ctx.signal },
  );
  return answer.completion.choices[0]?.message.content ?? '';
}

/** The store step's work, in a `documents` worker thread: this thread's own pool (or SQLite connection). */
export async function storeDocument(input: StoreInput, ctx: WorkContext): Promise<{ documentId: number; threadId: number }> {
  const db = await ctx.resource(documentsDb);
  const documentId = await db.save(input);
  return { documentId, threadId };
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
