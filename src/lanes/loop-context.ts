import type { AiCallOptions, ChatRequest, EmbeddingRequest } from '../ai/types.js';
import type { ResourceDef } from '../resources/resource.js';
import type { LaneEnv, RunOptions, WorkContext } from './types.js';

/**
 * Whom the AI calls of a job are charged to: the job (its cost) and its owner (budgets, spend),
 * from the run's context as the job system set it, never from what the task passes.
 */
export function chargedTo(context: Record<string, unknown> | undefined, asked?: AiCallOptions): Pick<AiCallOptions, 'client' | 'job'> {
  if (typeof context?.jobId !== 'string') return {};
  // A step's name (the workflow's step runner names it) only labels the job's cost.
  const step = asked?.job?.step ?? (typeof context.step === 'string' ? context.step.replace(/^step:/, '').replace(/#\d+$/, '') : undefined);
  const job = step !== undefined ? { id: context.jobId, step } : { id: context.jobId };
  const owner = context.owner as AiCallOptions['client'] | undefined;
  return owner ? { job, client: owner } : { job };
}

/** The work's AI calls go under its lane span (or the caller's) unless a call names its own parent. */
function underParent(callOpts: AiCallOptions, traceparent: string | undefined): AiCallOptions {
  return traceparent && callOpts.traceparent === undefined ? { ...callOpts, traceparent } : callOpts;
}

/**
 * The WorkContext of work running on the event loop: the same shape a thread gets, wired
 * directly to the host callbacks, the runtime's AI client and the main-thread resources.
 */
export function loopContext(lane: string, env: LaneEnv, signalOf: () => AbortSignal, opts: RunOptions, traceparent?: string): WorkContext {
  const { host, context } = opts;
  const ctx: WorkContext = {
    ...context,
    // Made on first use: most work (the AI calls of the `ai` lane among them) never looks at it.
    get signal() {
      return signalOf();
    },
    progress: (data: unknown) => {
      try {
        host?.progress?.(data);
      } catch (err) {
        // A host callback that throws must not fail the work (nor be lost).
        env.reportError(err, `lane "${lane}": host.progress threw`);
      }
    },
    log: (msg: string, data?: Record<string, unknown>) => {
      if (!host?.log) return env.log(lane, msg, data, context);
      try {
        host.log(msg, data);
      } catch (err) {
        env.reportError(err, `lane "${lane}": host.log threw`);
      }
    },
    ai: {
      // runtime.ai is looked up at call time; the task's signal ends the call with the task.
      chat: (req: ChatRequest, callOpts: AiCallOptions = {}) =>
        Promise.resolve().then(() => {
          const signal = signalOf();
          return env.ai().chat(req, {
            ...underParent(callOpts, traceparent),
            ...chargedTo(context, callOpts),
            signal: callOpts.signal ? AbortSignal.any([callOpts.signal, signal]) : signal,
          });
        }),
      embed: (req: EmbeddingRequest, callOpts: AiCallOptions = {}) =>
        Promise.resolve().then(() => {
          const signal = signalOf();
          return env.ai().embed(req, {
            ...underParent(callOpts, traceparent),
            ...chargedTo(context, callOpts),
            signal: callOpts.signal ? AbortSignal.any([callOpts.signal, signal]) : signal,
          });
        }),
    },
    resource: <T>(nameOrDef: string | ResourceDef<T>) => env.resources.get(nameOrDef as string | ResourceDef) as Promise<T>,
  };
  // Set after the literal: a second spread in it would build every context the slow way.
  if (traceparent && env.tracing.enabled) ctx.traceparent = traceparent;
  return ctx;
}
