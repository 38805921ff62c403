/**
 * Reviewed interviews: the questions are generated in a step (journaled, so paid once), then the
 * job waits for a reviewer's decision (`ctx.waitForSignal('review')`: parked, out of its lane slot,
 * surviving restarts) and only an approval publishes them. The reviewer answers over HTTP:
 * `POST /v1/jobs/<sessionId>/signals/review {"approved": true, "reviewer": "ana"}`.
 */
import { z } from 'zod';
import { defineTask } from '../../src/index.js';
import { questionRequests, toQuestion, type InterviewInput, type Question } from './questions.js';

export const REVIEW_SIGNAL = 'review';
/** How long a session waits for its reviewer before it gives up (the job fails with TL_ERR_JOB_SIGNAL_TIMEOUT). */
export const REVIEW_TIMEOUT_MS = 7 * 24 * 3_600_000;

export const reviewDecision = z
  .object({ approved: z.boolean(), reviewer: z.string().trim().min(1).max(100), note: z.string().max(2_000).optional() })
  .strict();
export type ReviewDecision = z.infer<typeof reviewDecision>;

export interface ReviewedSession {
  status: 'published' | 'rejected';
  reviewer: string;
  note?: string;
  /** The questions, once an approval published them (none when rejected). */
  questions: Question[];
  publishedAt?: number;
}

export const reviewedInterviewTask = defineTask<InterviewInput, ReviewedSession>(
  {
    name: 'interview.reviewed',
    lane: 'reviews',
    maxAttempts: 2,
    async run(input, ctx) {
      const draft = await ctx.step('generate', () =>
        Promise.all(questionRequests(input).map(async (r, i) => toQuestion(input, i, await ctx.ai.chat(r, { signal: ctx.signal })))),
      );
      // The reviewer reads the draft from the session (GET /interviews/:id) while the job waits.
      ctx.progress({ status: 'awaiting_review', draft });
      let decision: ReviewDecision;
      for (;;) {
        const parsed = reviewDecision.safeParse(await ctx.waitForSignal(REVIEW_SIGNAL, { timeoutMs: REVIEW_TIMEOUT_MS }));
        if (parsed.success) {
          decision = parsed.data;
          break;
        }
        // A malformed decision is not a decision: say why and wait for the next one.
        ctx.log('review signal ignored', { reason: parsed.error.issues[0]?.message ?? 'invalid' });
      }
      const note = decision.note === undefined ? {} : { note: decision.note };
      if (!decision.approved) return { status: 'rejected', reviewer: decision.reviewer, ...note, questions: [] };
      const publishedAt = await ctx.step('publish', () => Date.now());
      return { status: 'published', reviewer: decision.reviewer, ...note, questions: draft, publishedAt };
    },
  },
  import.meta.url,
);
