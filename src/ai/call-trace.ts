/**
 * AI spans (tracing on), with OpenTelemetry's GenAI conventions: one CLIENT span per request
 * (`chat <model>` / `embeddings <model>`, covering every attempt, as the conventions ask) and one
 * per upstream attempt under it (provider, upstream model, key index — never the key —, outcome,
 * and for a later attempt why it was made: a retry of the same target or a fallback, after what
 * failure). The attempt's lane task goes under the attempt span.
 */
import { GENAI } from '../telemetry/genai.js';
import type { TraceSpan, Tracing } from '../telemetry/tracing.js';
import type { AttemptRecord, DispatchContext } from './dispatch-types.js';
import type { RouteTarget } from './route.js';
import type { AiCallOptions, AiMeta, ChatChunk, ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult, Usage } from './types.js';

type Operation = 'chat' | 'embeddings';

/** What traceEntryPoints wraps: the orchestrator's three entry points. */
interface EntryPoints {
  chat(request: ChatRequest, options?: AiCallOptions): Promise<ChatResult>;
  openStream(request: ChatRequest, options?: AiCallOptions): Promise<{ meta: AiMeta; chunks: AsyncIterable<ChatChunk> }>;
  embed(request: EmbeddingRequest, options?: AiCallOptions): Promise<EmbeddingResult>;
}

/**
 * With tracing on, the entry points of `ai` run under a request span: own properties that wrap
 * the prototype's methods, so the orchestrator's code is the same with tracing on and off.
 */
export function traceEntryPoints(ai: EntryPoints, tracing: Tracing): void {
  const chat = ai.chat.bind(ai);
  const openStream = ai.openStream.bind(ai);
  const embed = ai.embed.bind(ai);
  ai.chat = (request, options = {}) => traceCall(tracing, 'chat', request, options, (o) => chat(request, o), chatResponse);
  ai.openStream = (request, options = {}) => traceStream(tracing, request, options, (o) => openStream(request, o));
  ai.embed = (request, options = {}) => traceCall(tracing, 'embeddings', request, options, (o) => embed(request, o));
}

/** What a span says of a whole chat answer beyond its meta. */
function chatResponse(result: ChatResult, span: TraceSpan): void {
  span.set(GENAI.responseId, result.completion.id);
  const reasons = result.completion.choices.map((c) => c.finish_reason ?? '').filter(Boolean);
  if (reasons.length) span.set(GENAI.finishReasons, reasons);
}

/** Runs `call` under a request span; the result's meta fills in who served it and the usage. */
export async function traceCall<R extends { meta: AiMeta }>(
  tracing: Tracing,
  op: Operation,
  request: { model?: unknown; max_tokens?: unknown; temperature?: unknown },
  options: AiCallOptions,
  call: (options: AiCallOptions) => Promise<R>,
  extra?: (result: R, span: TraceSpan) => void,
): Promise<R> {
  const span = requestSpan(tracing, op, request, options);
  try {
    const result = await call({ ...options, traceparent: span.traceparent });
    served(span, result.meta);
    extra?.(result, span);
    span.end();
    return result;
  } catch (err) {
    span.end(err);
    throw err;
  }
}

/** As traceCall for a stream: the span ends when the chunks end (or fail, or the reader leaves). */
export async function traceStream<R extends { meta: AiMeta; chunks: AsyncIterable<ChatChunk> }>(
  tracing: Tracing,
  request: ChatRequest,
  options: AiCallOptions,
  open: (options: AiCallOptions) => Promise<R>,
): Promise<R> {
  const span = requestSpan(tracing, 'chat', request, options);
  let result: R;
  try {
    result = await open({ ...options, traceparent: span.traceparent });
  } catch (err) {
    span.end(err);
    throw err;
  }
  span.event('first_chunk');
  const it = result.chunks[Symbol.asyncIterator]();
  let finish: string | undefined;
  const done = (err?: unknown): void => {
    served(span, result.meta);
    if (finish) span.set(GENAI.finishReasons, [finish]);
    span.end(err);
  };
  const chunks: AsyncIterableIterator<ChatChunk> = {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      try {
        const r = await it.next();
        if (r.done) done();
        else finish = r.value.choices[0]?.finish_reason ?? finish;
        return r;
      } catch (err) {
        done(err);
        throw err;
      }
    },
    async return() {
      done();
      await it.return?.();
      return { done: true, value: undefined };
    },
  };
  return { ...result, chunks };
}

function requestSpan(
  tracing: Tracing,
  op: Operation,
  request: { model?: unknown; max_tokens?: unknown; temperature?: unknown },
  options: AiCallOptions,
): TraceSpan {
  const model = typeof request.model === 'string' ? request.model : '';
  return tracing.start(`${op} ${model}`, {
    kind: 'client',
    ...(options.traceparent ? { parent: options.traceparent } : {}),
    attributes: {
      [GENAI.operation]: op,
      [GENAI.requestModel]: model,
      ...(typeof request.max_tokens === 'number' ? { [GENAI.maxTokens]: request.max_tokens } : {}),
      ...(typeof request.temperature === 'number' ? { [GENAI.temperature]: request.temperature } : {}),
    },
  });
}

function served(span: TraceSpan, meta: AiMeta): void {
  span.set(GENAI.provider, meta.provider);
  span.set(GENAI.responseModel, meta.model);
  span.set(GENAI.keyIndex, meta.keyIndex);
  span.set(GENAI.attempts, meta.attempts);
  span.set(GENAI.cache, meta.cache);
  usage(span, meta.usage);
}

export function usage(span: TraceSpan, u: Usage | undefined): void {
  if (!u) return;
  span.set(GENAI.inputTokens, u.prompt_tokens);
  span.set(GENAI.outputTokens, u.completion_tokens);
}

/** The span of one upstream attempt, under the request's span. */
export function attemptSpan(tracing: Tracing, ctx: DispatchContext, target: RouteTarget, keyIndex: number): TraceSpan {
  const prev = ctx.attempts[ctx.attempts.length - 1];
  const op = ctx.operation ?? 'chat';
  return tracing.start(`${op} ${target.model}`, {
    kind: 'client',
    ...(ctx.traceparent ? { parent: ctx.traceparent } : {}),
    attributes: {
      [GENAI.operation]: op,
      [GENAI.provider]: target.provider,
      [GENAI.requestModel]: target.model,
      [GENAI.route]: ctx.route.id,
      [GENAI.keyIndex]: keyIndex,
      [GENAI.attempt]: ctx.attempts.length + 1,
      // Why this attempt was made: the failure before it, and whether it is the same target again.
      ...(prev
        ? {
            [GENAI.decision]: prev.provider === target.provider && prev.model === target.model ? 'retry' : 'fallback',
            'tasklane.ai.after': prev.kind ?? prev.code ?? 'error',
          }
        : {}),
    },
  });
}

/** Ends an attempt's span from its record (none: it ended before the call, e.g. the lane was full). */
export function endAttemptSpan(span: TraceSpan, record: AttemptRecord | undefined): void {
  if (record && record.code === undefined) {
    span.set(GENAI.outcome, 'ok');
    span.end();
    return;
  }
  const outcome = record?.kind ?? 'not_called';
  span.set(GENAI.outcome, outcome);
  if (record?.status !== undefined) span.set('http.response.status_code', record.status);
  span.end({ code: record?.code ?? 'not_called', message: `${outcome}${record?.status ? ` (${record.status})` : ''}` });
}
