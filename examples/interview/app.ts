/**
 * Interview sessions: `POST /interviews {role, difficulty}` generates five questions through the
 * `interview` model route (Groq with three keys, then Hugging Face with two). `"mode": "sync"`
 * runs the legacy synchronous generator in a worker thread instead of the async handler.
 * `"review": true` makes the session a durable job (review.ts) whose questions are published only
 * once a reviewer approves them (`POST /v1/jobs/<sessionId>/signals/review`); `GET
 * /interviews/:id` follows it.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  NotFoundError,
  ValidationError,
  createRuntime,
  listen,
  type ConfigInput,
  type JobRecord,
  type RoutePlugin,
  type Runtime,
} from '../../src/index.js';
import { DIFFICULTIES, INTERVIEW_MODEL, questionRequests, toQuestion, type Question } from './questions.js';
import { REVIEW_SIGNAL, reviewedInterviewTask, type ReviewedSession } from './review.js';

const QUESTIONS = fileURLToPath(new URL('./questions.ts', import.meta.url));

const body = z
  .object({
    role: z.string().trim().min(1).max(100),
    difficulty: z.enum(DIFFICULTIES),
    /** 'async' (default): the handler awaits the calls; 'sync': the synchronous generator in a thread. */
    mode: z.enum(['async', 'sync']).default('async'),
    /** true: a reviewer approves the questions before they are published (answer 202; follow GET /interviews/:id). */
    review: z.boolean().default(false),
  })
  .strict();

/** Where the providers live; keys are `env:` references or literals. */
export interface InterviewProviders {
  groq: { baseURL: string; apiKeys: string[] };
  huggingface: { baseURL: string; apiKeys: string[] };
}

export function interviewConfig(providers: InterviewProviders): ConfigInput {
  return {
    providers: {
      groq: { type: 'openai-compatible', baseURL: providers.groq.baseURL, apiKeys: providers.groq.apiKeys },
      huggingface: { type: 'huggingface', baseURL: providers.huggingface.baseURL, apiKeys: providers.huggingface.apiKeys },
    },
    models: {
      [INTERVIEW_MODEL]: [
        { provider: 'groq', model: 'llama-3.1-8b-instant' },
        { provider: 'huggingface', model: 'meta-llama/Llama-3.1-8B-Instruct' },
      ],
    },
    // The synchronous generator's own lane: two threads, each may block on its calls.
    lanes: {
      questions: { placement: 'thread', concurrency: 2, timeoutMs: 60_000 },
      // Reviewed sessions: a waiting one holds no slot, so a few slots serve any number of reviews.
      reviews: { placement: 'loop', concurrency: 4, timeoutMs: 60_000 },
    },
    // The cache is opt-in; the question prompts are deterministic (temperature 0), so they are kept.
    ai: { cache: { enabled: true } },
  };
}

export interface InterviewOptions {
  providers: InterviewProviders;
  config?: ConfigInput;
  env?: NodeJS.ProcessEnv;
  dotenv?: boolean;
  logDestination?: { write(line: string): unknown };
}

export async function startInterview(options: InterviewOptions): Promise<{ runtime: Runtime; url: string; close(): Promise<void> }> {
  const base = interviewConfig(options.providers);
  const runtime = await createRuntime({
    config: { ...base, ...options.config, lanes: { ...base.lanes, ...options.config?.lanes }, ai: { ...base.ai, ...options.config?.ai } },
    env: options.env,
    dotenv: options.dotenv ?? false,
    logDestination: options.logDestination,
  });
  try {
    runtime.jobs.register(reviewedInterviewTask);
    const server = await listen(runtime, { routes: [interviewRoutes] });
    return { runtime, url: server.url, close: async () => void (await runtime.close()) };
  } catch (err) {
    await runtime.close();
    throw err;
  }
}

export const interviewRoutes: RoutePlugin = async (app, { runtime }) => {
  app.post('/interviews', async (req, reply) => {
    const parsed = body.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ValidationError(`${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const { mode, review, ...input } = parsed.data;
    if (review) {
      const job = await runtime.jobs.enqueue(reviewedInterviewTask.name, input);
      runtime.log.info({ role: input.role, difficulty: input.difficulty, sessionId: job.id }, 'interview queued for review');
      return reply.code(202).send({
        sessionId: job.id,
        role: input.role,
        difficulty: input.difficulty,
        status: 'generating',
        session: `/interviews/${job.id}`,
        review: { method: 'POST', path: `/v1/jobs/${job.id}/signals/${REVIEW_SIGNAL}`, body: { approved: true, reviewer: 'your name' } },
      });
    }
    const controller = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) controller.abort();
    });
    const started = performance.now();
    let questions: Question[];
    if (mode === 'sync') {
      questions = await runtime.lanes.run<Question[]>('questions', { module: QUESTIONS, export: 'generateQuestionsSync' }, input, {
        signal: controller.signal,
      });
    } else {
      questions = await Promise.all(
        questionRequests(input).map(async (r, i) => toQuestion(input, i, await runtime.ai.chat(r, { signal: controller.signal }))),
      );
    }
    runtime.log.info({ role: input.role, difficulty: input.difficulty, mode }, 'interview created');
    return reply.code(201).send({
      sessionId: randomUUID(),
      role: input.role,
      difficulty: input.difficulty,
      mode,
      status: 'in_progress',
      generatedMs: Math.round(performance.now() - started),
      questions,
    });
  });

  app.get<{ Params: { id: string } }>('/interviews/:id', async (req) => {
    const job = await runtime.jobs.get(req.params.id);
    if (!job || job.task !== reviewedInterviewTask.name) throw new NotFoundError(`no reviewed interview ${req.params.id}`);
    return sessionView(job);
  });
};

/** A reviewed session as its reader sees it: the draft while it awaits review, the questions once published. */
function sessionView(job: JobRecord): Record<string, unknown> {
  const input = job.input as { role: string; difficulty: string };
  const base = { sessionId: job.id, role: input.role, difficulty: input.difficulty };
  if (job.state === 'succeeded') {
    const r = job.result as ReviewedSession;
    return { ...base, ...r, questions: r.status === 'published' ? r.questions : null };
  }
  if (job.state === 'dead' || job.state === 'cancelled') return { ...base, status: 'failed', error: job.error ?? null, questions: null };
  const progress = job.progress as { status?: string; draft?: Question[] } | undefined;
  const waiting = job.state === 'waiting' && job.waitingFor?.kind === 'signal' && job.waitingFor.name === REVIEW_SIGNAL;
  return {
    ...base,
    status: waiting || progress?.status === 'awaiting_review' ? 'awaiting_review' : 'generating',
    draft: progress?.draft ?? null,
    questions: null,
  };
}
