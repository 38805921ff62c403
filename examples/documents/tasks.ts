/**
 * The document workflow as a durable job in the `documents` thread lane: retried once if a step
 * fails (a transient database or provider error), with progress per step.
 */
import { z } from 'zod';
import { defineTask } from '../../src/index.js';
import { processDocument, type DocumentInput, type DocumentResult } from './pipeline.js';

export const documentInput = z
  .object({
    title: z.string().trim().min(1).max(300),
    format: z.enum(['text', 'markdown', 'html']).default('text'),
    body: z.string().min(1).max(500_000),
  })
  .strict();

export const processDocumentTask = defineTask<DocumentInput, DocumentResult>(
  { name: 'documents.process', lane: 'documents', input: documentInput, maxAttempts: 2, run: processDocument },
  import.meta.url,
);
