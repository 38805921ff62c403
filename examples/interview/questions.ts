/**
 * Interview questions: the prompts, and the legacy synchronous generator. The original service
 * had a synchronous `generate()` that ran the event loop to completion inside the server's
 * running loop. Here synchronous code runs in a worker thread, where `ctx.ai.generateSync()`
 * blocks only that thread while the main thread's orchestrator makes the call.
 */
import type { WorkContext } from '../../src/index.js';

export const INTERVIEW_MODEL = 'interview';
export const DIFFICULTIES = ['Easy', 'Medium', 'Hard'] as const;
const CATEGORIES = ['Technical', 'Behavioral', 'Technical', 'Situational', 'Technical'] as const;
const TIME_LIMIT_S = { Easy: 300, Medium: 420, Hard: 600 } as const;

export interface InterviewInput {
  role: string;
  difficulty: (typeof DIFFICULTIES)[number];
}

export interface Question {
  number: number;
  category: string;
  difficulty: string;
  timeLimitS: number;
  text: string;
  /** Who answered: provider, model, key index (never the key), attempts, cache hit or miss. */
  served: { provider: string; model: string; keyIndex: number; attempts: number; cache: string };
}

type Request = Parameters<WorkContext['ai']['chat']>[0];
type Result = Awaited<ReturnType<WorkContext['ai']['chat']>>;

/** One prompt per question, so that each is cached on its own. */
export function questionRequests(input: InterviewInput): Request[] {
  return CATEGORIES.map((category, i) => ({
    model: INTERVIEW_MODEL,
    temperature: 0,
    max_tokens: 200,
    messages: [
      { role: 'system' as const, content: 'You are an interviewer. Answer with the question only.' },
      {
        role: 'user' as const,
        content: `Question ${i + 1} of ${CATEGORIES.length} (${category}) for a ${input.difficulty} ${input.role} interview.`,
      },
    ],
  }));
}

export function toQuestion(input: InterviewInput, index: number, result: Result): Question {
  const { meta, completion } = result;
  return {
    number: index + 1,
    category: CATEGORIES[index]!,
    difficulty: input.difficulty,
    timeLimitS: TIME_LIMIT_S[input.difficulty],
    text: (completion.choices[0]?.message.content ?? '').trim(),
    served: { provider: meta.provider, model: meta.model, keyIndex: meta.keyIndex, attempts: meta.attempts, cache: meta.cache },
  };
}

/** Thread entry: the legacy synchronous generator, one blocking call per question. */
export function generateQuestionsSync(input: InterviewInput, ctx: WorkContext): Question[] {
  const generateSync = ctx.ai.generateSync;
  if (!generateSync) throw new Error('generateQuestionsSync runs in a thread lane (ctx.ai.generateSync exists only there)');
  return questionRequests(input).map((req, i) => {
    ctx.signal.throwIfAborted();
    return toQuestion(input, i, generateSync(req));
  });
}
