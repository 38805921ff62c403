import { z } from 'zod';

const JOB_STATES = ['queued', 'delayed', 'running', 'waiting', 'succeeded', 'dead', 'cancelled'] as const;

/** Longest job id the routes accept; Fastify's maxParamLength is set to it so a longer one is a 414 in our shape. */
export const JOB_ID_MAX = 200;

/** Record fields a list leaves out unless `?include=` names them (they can be large). */
export const LIST_INCLUDABLE = ['input', 'result'] as const;

/** POST /v1/jobs */
export const submitBody = z
  .object({
    task: z.string().min(1, 'must name a task, e.g. "demo.progress"'),
    input: z.unknown().optional(),
    priority: z.number().int().min(-1_000_000).max(1_000_000).optional(),
    delayMs: z
      .number()
      .int()
      .nonnegative()
      .max(365 * 24 * 3_600_000)
      .optional(),
    idempotencyKey: z.string().min(1).max(256).optional(),
    maxAttempts: z.number().int().min(1).max(1_000).optional(),
  })
  .strict();

/** GET /v1/jobs */
export const listQuery = z
  .object({
    state: z.enum(JOB_STATES).optional(),
    task: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(500).optional(),
    cursor: z.string().min(1).optional(),
    /** Comma-separated: `input`, `result`. */
    include: z
      .string()
      .transform((v, ctx) => {
        const names = v
          .split(',')
          .map((n) => n.trim())
          .filter(Boolean);
        for (const n of names) {
          if (!(LIST_INCLUDABLE as readonly string[]).includes(n)) {
            ctx.addIssue({
              code: z.ZodIssueCode.custom,
              message: `can name ${LIST_INCLUDABLE.join(', ')} (comma-separated), not "${n.slice(0, 40)}"`,
            });
            return z.NEVER;
          }
        }
        return new Set(names as Array<(typeof LIST_INCLUDABLE)[number]>);
      })
      .optional(),
  })
  .strict();

export const jobParams = z.object({ id: z.string().min(1).max(JOB_ID_MAX) });

/** GET /v1/jobs/:id/events: where to resume. `Last-Event-ID` wins over `?from=` (it is what a reconnecting browser sends). */
export const eventsQuery = z
  .object({
    from: z.coerce.number().int().nonnegative().optional(),
    token: z.string().optional(),
  })
  .strict();

/** POST /v1/tokens */
export const tokenBody = z
  .object({
    /** Only `jobs:read` can be granted: tokens open the SSE and WebSocket routes only. */
    scopes: z.array(z.literal('jobs:read')).min(1).optional(),
    ttlMs: z.number().int().min(1_000).optional(),
    jobs: z.array(z.string().min(1).max(JOB_ID_MAX)).min(1).max(1_000).optional(),
  })
  .strict();

/** WebSocket messages from the client. */
export const socketMessage = z.discriminatedUnion('op', [
  z
    .object({ op: z.literal('subscribe'), jobId: z.string().min(1).max(JOB_ID_MAX), fromSeq: z.number().int().nonnegative().optional() })
    .strict(),
  z.object({ op: z.literal('unsubscribe'), jobId: z.string().min(1).max(JOB_ID_MAX) }).strict(),
]);
