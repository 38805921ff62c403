/**
 * The document workflow as durable jobs. `documents.process` (loop lane `workflows`) runs its
 * steps — extract, split into pages, one child job per page, join, aggregate, store — each stored
 * with the job as it completes, so a crash or a retry replays finished steps instead of running
 * them again (and pays for no AI call twice). Each page is a child job `documents.page` with one
 * AI extraction step. The store step runs in the `documents` thread lane, where each thread has
 * its own database pool (the seed's failure: a pool awaited on another thread's event loop).
 */
import { z } from 'zod';
import { defineTask } from '../../src/index.js';
import {
  PAGE_WORDS,
  chunk,
  combinePrompt,
  extract,
  pagePrompt,
  storeDocument,
  summarize,
  type DocumentInput,
  type DocumentResult,
  type PageInput,
  type PageResult,
  type StoreInput,
} from './pipeline.js';

export const documentInput = z
  .object({
    title: z.string().trim().min(1).max(300),
    format: z.enum(['text', 'markdown', 'html']).default('text'),
    body: z.string().min(1).max(500_000),
  })
  .strict();

/** The store step's task: a module-level definition, so the `documents` worker threads can import it. */
export const storeDocumentTask = defineTask<StoreInput, { documentId: number; threadId: number }>(
  { name: 'documents.store', lane: 'documents', run: storeDocument },
  import.meta.url,
);

export const pageTask = defineTask<PageInput, PageResult>(
  {
    name: 'documents.page',
    lane: 'workflows',
    maxAttempts: 3,
    async run(page, ctx) {
      const summary = await ctx.step('extract', () => summarize(ctx, pagePrompt(page)), { retries: 1 });
      return { index: page.index, summary };
    },
  },
  import.meta.url,
);

export const processDocumentTask = defineTask<DocumentInput, DocumentResult>(
  {
    name: 'documents.process',
    lane: 'workflows',
    input: documentInput,
    maxAttempts: 3,
    async run(input, ctx) {
      const text = await ctx.step('extract', () => extract(input));
      const pages = await ctx.step('split', () => chunk(text, PAGE_WORDS));
      // One child job per page, spawned together (each is enqueued once per job, whatever the replays).
      const children = await Promise.all(
        pages.map((body, index) => ctx.spawn(pageTask, { title: input.title, index, of: pages.length, body })),
      );
      // Parks the job (out of its lane slot) until every page has ended; a failed page fails it.
      const ended = await ctx.join(children);
      const summaries = ended.map((c) => (c.result as PageResult).summary);
      const summary = await ctx.step('aggregate', () =>
        pages.length > 1 ? summarize(ctx, combinePrompt(input.title, summaries)) : (summaries[0] ?? ''),
      );
      const stored = await ctx.step('store', storeDocumentTask, {
        lane: 'documents',
        input: { jobId: ctx.jobId, title: input.title, chunks: pages, summaries, summary },
      });
      return { documentId: stored.documentId, chunks: pages.length, summary, threadId: stored.threadId };
    },
  },
  import.meta.url,
);
