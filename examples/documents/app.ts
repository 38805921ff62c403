/**
 * Documents: `POST /documents {title, format, body}` queues the durable workflow (tasks.ts:
 * extract → split into pages → a child job per page with an AI extraction step → join →
 * aggregate → store in a worker thread with its own PostgreSQL pool). `GET /documents/:id`
 * answers the job's state, its pages and, once done, the stored document.
 */
import {
  NotFoundError,
  ValidationError,
  createRuntime,
  listen,
  type ConfigInput,
  type RoutePlugin,
  type Runtime,
} from '../../src/index.js';
import { migrate } from './db.js';
import { SUMMARIZER_MODEL } from './pipeline.js';
import { documentInput, pageTask, processDocumentTask } from './tasks.js';

export interface DocumentsOptions {
  /** Where the summarizer lives (an OpenAI-compatible provider). */
  summarizer: { baseURL: string; apiKeys: string[]; model: string };
  config?: ConfigInput;
  env?: NodeJS.ProcessEnv;
  dotenv?: boolean;
  logDestination?: { write(line: string): unknown };
}

export async function startDocuments(options: DocumentsOptions): Promise<{ runtime: Runtime; url: string; close(): Promise<void> }> {
  // Tables first, on a short-lived connection of the main thread (closed before any work runs).
  await migrate();
  const runtime = await createRuntime({
    config: {
      providers: { summarizer: { type: 'openai-compatible', baseURL: options.summarizer.baseURL, apiKeys: options.summarizer.apiKeys } },
      models: { [SUMMARIZER_MODEL]: [{ provider: 'summarizer', model: options.summarizer.model }] },
      ...options.config,
      lanes: {
        // The workflows and their pages wait on the AI, not the CPU: the event loop.
        workflows: { placement: 'loop', concurrency: 8, timeoutMs: 120_000 },
        // The store step: four threads, each opens its own pool on first use and closes it with the thread.
        documents: { placement: 'thread', concurrency: 4, timeoutMs: 120_000 },
        ...options.config?.lanes,
      },
    },
    env: options.env,
    dotenv: options.dotenv ?? false,
    logDestination: options.logDestination,
  });
  try {
    for (const task of [processDocumentTask, pageTask]) runtime.jobs.register(task);
    const server = await listen(runtime, { routes: [documentRoutes] });
    return { runtime, url: server.url, close: async () => void (await runtime.close()) };
  } catch (err) {
    await runtime.close();
    throw err;
  }
}

export const documentRoutes: RoutePlugin = async (app, { runtime, requireScope }) => {
  app.post('/documents', async (req, reply) => {
    requireScope(req, 'jobs:write');
    const parsed = documentInput.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ValidationError(`${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const job = await runtime.jobs.enqueue(processDocumentTask.name, parsed.data);
    return reply.code(202).send({ id: job.id, state: job.state, events: `/v1/jobs/${job.id}/events` });
  });

  app.get<{ Params: { id: string } }>('/documents/:id', async (req) => {
    requireScope(req, 'jobs:read');
    const job = await runtime.jobs.get(req.params.id);
    if (!job || job.task !== processDocumentTask.name) throw new NotFoundError(`no document job ${req.params.id}`);
    return { id: job.id, state: job.state, step: job.progress ?? null, result: job.result ?? null, error: job.error ?? null };
  });
};
