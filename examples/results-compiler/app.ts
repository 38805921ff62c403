/**
 * Results compiler: upload a CSV or XLSX of scores, compile rankings and statistics, get an AI
 * summary, download the result as a workbook. Data work runs in the `data` lane, file work in the
 * `io` lane, AI calls in the `ai` lane; the event loop only routes requests.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  NotFoundError,
  ValidationError,
  createRuntime,
  listen,
  type ConfigInput,
  type RoutePlugin,
  type Runtime,
} from '../../src/index.js';
import type { Compiled } from './operations.js';

const OPERATIONS = fileURLToPath(new URL('./operations.ts', import.meta.url));
const FILES = fileURLToPath(new URL('./files.ts', import.meta.url));
const NIGHTLY = fileURLToPath(new URL('./nightly.ts', import.meta.url));

/** When the nightly compile runs: 02:00 UTC (nightly.ts). */
export const NIGHTLY_CRON = '0 2 * * *';

export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
/** The model alias the AI summary asks for; without it in the config the summary is skipped. */
export const ANALYST_MODEL = 'analyst';

/** The lane sizes the original service used for its three thread pools, now plain lane settings. */
export const LANES: ConfigInput['lanes'] = {
  data: { placement: 'thread', concurrency: 4, timeoutMs: 15_000 },
  io: { placement: 'thread', concurrency: 4, timeoutMs: 30_000 },
  ai: { placement: 'loop', concurrency: 10, timeoutMs: 30_000 },
};

const compileBody = z
  .object({
    /** Bootstrap resamples for the class average's 95 % interval (0 = none). */
    bootstrap: z.number().int().min(0).max(1_000_000_000).default(0),
    /** Ask the AI for a summary (when a provider is configured). */
    analysis: z.boolean().default(true),
  })
  .strict();

const ID = /^[0-9a-f-]{36}$/;

export interface CompilerOptions {
  config?: ConfigInput;
  env?: NodeJS.ProcessEnv;
  dotenv?: boolean;
  logDestination?: { write(line: string): unknown };
  /** Overrides NIGHTLY_CRON (a test uses a seconds cron). */
  nightlyCron?: string;
}

export interface RunningApp {
  runtime: Runtime;
  url: string;
  close(): Promise<void>;
}

export async function startResultsCompiler(options: CompilerOptions = {}): Promise<RunningApp> {
  const dir = resolve(options.config?.data ?? './data', 'results-compiler');
  const runtime = await createRuntime({
    config: {
      ...options.config,
      lanes: { ...LANES, ...options.config?.lanes },
      jobs: { ...options.config?.jobs, modules: [...(options.config?.jobs?.modules ?? []), NIGHTLY] },
      schedules: [
        ...(options.config?.schedules ?? []),
        { name: 'results.nightly', task: 'results.nightly', cron: options.nightlyCron ?? NIGHTLY_CRON, input: { dir } },
      ],
    },
    env: options.env,
    dotenv: options.dotenv ?? false,
    logDestination: options.logDestination,
  });
  try {
    const server = await listen(runtime, { routes: [resultsRoutes] });
    return { runtime, url: server.url, close: async () => void (await runtime.close()) };
  } catch (err) {
    await runtime.close();
    throw err;
  }
}

export const resultsRoutes: RoutePlugin = async (app, { runtime }) => {
  const uploads = join(runtime.config.dataDir, 'results-compiler', 'uploads');
  const results = join(runtime.config.dataDir, 'results-compiler', 'results');
  // Upload formats by id; it hangs off this app instance, never off the module.
  const formats = new Map<string, 'csv' | 'xlsx'>();
  const hasAnalyst = Object.hasOwn(runtime.config.models, ANALYST_MODEL);

  app.addContentTypeParser(['text/csv', XLSX_TYPE], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.get('/health', { config: { public: true } }, async () => ({
    status: 'alive',
    loop: runtime.loop.snapshot().delayMs,
    lanes: Object.fromEntries(Object.entries(runtime.lanes.stats()).map(([name, s]) => [name, { active: s.active, queued: s.queued }])),
  }));

  app.post('/uploads', async (req, reply) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    const format = type === 'text/csv' ? 'csv' : type === XLSX_TYPE ? 'xlsx' : undefined;
    if (!format || !Buffer.isBuffer(req.body) || req.body.length === 0) {
      throw new ValidationError(`upload a non-empty CSV (content-type text/csv) or XLSX (content-type ${XLSX_TYPE}) file`);
    }
    const id = randomUUID();
    await runtime.lanes.run(
      'io',
      { module: FILES, export: 'writeBytes' },
      { path: join(uploads, `${id}.${format}`), bytes: req.body },
      { signal: requestSignal(reply.raw) },
    );
    formats.set(id, format);
    return reply.code(201).send({ id, format, size: req.body.length });
  });

  app.post<{ Params: { id: string } }>('/uploads/:id/compile', async (req, reply) => {
    const { id } = req.params;
    const format = ID.test(id) ? formats.get(id) : undefined;
    if (!format) throw new NotFoundError(`no upload ${id}; POST the file to /uploads first`);
    const parsed = compileBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ValidationError(`${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const signal = requestSignal(reply.raw);
    const bytes = await runtime.lanes.run<Uint8Array | null>(
      'io',
      { module: FILES, export: 'readBytes' },
      { path: join(uploads, `${id}.${format}`) },
      { signal },
    );
    if (!bytes) throw new NotFoundError(`upload ${id} is gone from disk`);
    let compiled: Compiled;
    try {
      compiled = await runtime.lanes.run<Compiled>(
        'data',
        { module: OPERATIONS, export: 'compile' },
        { format, bytes, bootstrap: parsed.data.bootstrap },
        { signal },
      );
    } catch (err) {
      // A parse problem is the uploader's to fix; lane errors (timeout, full) pass through as they are.
      if ((err as { code?: string }).code === 'TL_ERR_TASK_FAILED')
        throw new ValidationError(`cannot compile upload ${id}: ${(err as Error).message}`, { cause: err });
      throw err;
    }
    let analysis: string | null = null;
    if (parsed.data.analysis && hasAnalyst) {
      const top = compiled.students
        .slice(0, 3)
        .map((s) => `${s.student} (${s.average})`)
        .join(', ');
      const answer = await runtime.ai.chat(
        {
          model: ANALYST_MODEL,
          messages: [
            { role: 'system', content: 'You summarize exam results for teachers in three sentences.' },
            {
              role: 'user',
              content: `Subjects: ${compiled.subjects.map((s) => `${s.subject} mean ${s.mean}`).join('; ')}. Class mean ${compiled.classMean.mean}. Top: ${top}.`,
            },
          ],
        },
        { signal },
      );
      analysis = answer.completion.choices[0]?.message.content ?? '';
    }
    await runtime.lanes.run(
      'io',
      { module: FILES, export: 'writeResultWorkbook' },
      { path: join(results, `${id}.xlsx`), compiled, analysis },
      { signal },
    );
    return {
      id,
      rows: compiled.rows,
      students: compiled.students.length,
      subjects: compiled.subjects,
      top: compiled.students.slice(0, 3),
      classMean: compiled.classMean,
      analysis,
      download: `/results/${id}`,
    };
  });

  app.get<{ Params: { id: string } }>('/results/:id', async (req, reply) => {
    const { id } = req.params;
    if (!ID.test(id)) throw new NotFoundError(`no result ${id}`);
    const bytes = await runtime.lanes.run<Uint8Array | null>(
      'io',
      { module: FILES, export: 'readBytes' },
      { path: join(results, `${id}.xlsx`) },
      { signal: requestSignal(reply.raw) },
    );
    if (!bytes) throw new NotFoundError(`no result ${id}; compile the upload first`);
    return reply
      .type(XLSX_TYPE)
      .header('content-disposition', `attachment; filename="results-${id}.xlsx"`)
      .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
};

/** Aborts when the client goes away before the answer is sent, so its lane slot is freed. */
function requestSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
