import { AbortError, internalError, ProviderError, TasklaneError } from '../errors.js';
import type { Logger } from '../runtime/index.js';
import type { CachedAnswer } from './cache.js';
import type { Dispatcher } from './dispatch.js';
import { failedAttempts, servedBy, type AttemptInput, type AttemptRecord, type DispatchContext } from './dispatch-types.js';
import type { AiMetrics } from './metrics.js';
import { addToolCallPiece, chunk, streamedMessage, upstreamRequest } from './openai-chunks.js';
import { nativeEvents, withNative, withRaw, type NativeEvent } from './raw.js';
import type { Route } from './route.js';
import type { StreamFlight } from './stream-flight.js';
import type { ChatChunk, ChatCompletion, ChatRequest, ServedBy, Usage } from './types.js';

export interface StreamProducerDeps {
  dispatcher: Dispatcher;
  log: Logger;
  metrics: AiMetrics;
  /** ai.maxMalformedEvents: this many unparsable events in one stream end it as broken. */
  maxMalformedEvents: number;
  /** Counts an answer's tokens (and charges the caller that started the flight, see the orchestrator). */
  countTokens(served: ServedBy, usage: Usage | undefined, flight?: StreamFlight): void;
  /** Offers a whole streamed answer (and its chunks, for a faithful replay) to the cache. */
  store(key: string, req: ChatRequest, answer: CachedAnswer): void;
}

/**
 * Runs the upstream side of a stream flight: attempts (through the dispatcher's failure table)
 * until the first byte, then pumps the adapter's parts into the flight as OpenAI chunks; a break
 * after the first byte ends with the in-band error or, when the route asks, a continuation on a
 * prefill target. The pure chunk work lives in openai-chunks.ts.
 */
export class StreamProducer {
  readonly #deps: StreamProducerDeps;

  constructor(deps: StreamProducerDeps) {
    this.#deps = deps;
  }

  /** Runs the upstream stream of a flight: attempts until the first byte, then continuation or an in-band error. */
  async produce(flight: StreamFlight, route: Route, req: ChatRequest, key: string, ctx: DispatchContext): Promise<void> {
    let continued = false;
    try {
      let end: PumpEnd;
      try {
        end = (await this.#deps.dispatcher.run(ctx, (a) => this.#pump(flight, a, req, ctx, undefined), { stop: () => flight.committed }))
          .value;
      } catch (err) {
        const failure = asTasklaneError(err);
        // A prefill can only continue text: a stream that sent tool calls ends with the error.
        // Nor can a native stream (its thinking blocks and signatures are the upstream's own).
        if (!flight.committed || !route.continuation || !canContinue(failure) || flight.toolCalls.length > 0) throw failure;
        if (nativeEvents(flight.chunks[0])) throw failure;
        continued = true;
        end = await this.#continue(flight, route, req, ctx, failure);
      }
      const first = flight.chunks[0];
      const server = flight.server!;
      const last = chunk(first?.id ?? end.id, first?.created ?? end.created, server.model, {}, end.finishReason);
      flight.push(end.native ? withNative(last, end.native) : last);
      this.#deps.countTokens(servedBy(server, server.keyIndex), end.usage, flight);
      flight.finish(end.finishReason, end.usage);
      if (!continued) {
        const completion: ChatCompletion = {
          id: first?.id ?? end.id,
          object: 'chat.completion',
          created: first?.created ?? end.created,
          model: server.model,
          choices: [{ index: 0, message: streamedMessage(flight.text, flight.toolCalls), finish_reason: end.finishReason }],
        };
        if (end.usage) completion.usage = end.usage;
        this.#deps.store(key, req, {
          completion,
          ...servedBy(server, server.keyIndex),
          chunks: [...flight.chunks],
        });
      }
    } catch (err) {
      flight.fail(asTasklaneError(err));
    }
  }

  /**
   * The stream broke after bytes reached the caller: ask another target that accepts a prefill to
   * go on from the text already sent. Any failure here reports the original break, which is what
   * the caller needs to know.
   */
  async #continue(flight: StreamFlight, route: Route, req: ChatRequest, ctx: DispatchContext, original: TasklaneError): Promise<PumpEnd> {
    const last = ctx.attempts[ctx.attempts.length - 1];
    const exclude = new Set(last ? [`${last.provider}/${last.model}`] : []);
    const budget = route.maxAttempts - ctx.attempts.length;
    if (budget <= 0) throw original;
    try {
      const r = await this.#deps.dispatcher.run(ctx, (a) => this.#pump(flight, a, req, ctx, flight.text), {
        requirePrefill: true,
        exclude,
        maxAttempts: budget,
      });
      return r.value;
    } catch (err) {
      const e = asTasklaneError(err);
      if (e.code === 'TL_ERR_ABORTED') throw e;
      this.#deps.log.warn({ route: route.id, code: e.code }, `continuation of a broken stream failed: ${e.message}`);
      throw new ProviderError(original.code, original.message, {
        cause: original,
        httpStatus: original.httpStatus,
        details: { ...original.details, route: route.id, attempts: ctx.attempts, continuation: { code: e.code, message: e.message } },
      });
    }
  }

  async #pump(
    flight: StreamFlight,
    a: AttemptInput,
    req: ChatRequest,
    ctx: DispatchContext,
    prefill: string | undefined,
  ): Promise<PumpEnd> {
    const { target, lease } = a;
    const served = servedBy(target, lease.keyIndex);
    const parts = await a.model.doStream({
      request: upstreamRequest(req, target.model, true),
      apiKey: lease.apiKey,
      keyIndex: lease.keyIndex,
      signal: a.signal,
      timeouts: a.timeouts,
      ...(prefill !== undefined ? { prefill } : {}),
    });
    let id = `chatcmpl-${Date.now().toString(36)}`;
    let created = Math.floor(Date.now() / 1000);
    const it = parts[Symbol.asyncIterator]();
    let draining = false;
    let malformed = 0;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        const p = r.value;
        if (a.signal.aborted) break;
        switch (p.type) {
          case 'start':
            id = p.id || id;
            created = p.created || created;
            break;
          case 'text-delta':
          case 'tool-call-delta': {
            if (p.type === 'text-delta' && !p.text) break;
            const first = flight.chunks[0];
            a.firstToken?.();
            if (!first)
              flight.server = {
                ...served,
                attempts: ctx.attempts.length + 1,
                ...failedSoFar(ctx),
                ...(ctx.waitedMs ? { waitedMs: ctx.waitedMs } : {}),
              };
            else if (
              flight.server!.keyIndex !== lease.keyIndex ||
              flight.server!.provider !== target.provider ||
              flight.server!.model !== target.model
            ) {
              // A continuation: another target serves the rest.
              flight.server = { ...flight.server!, ...served };
            }
            let delta: ChatChunk['choices'][number]['delta'];
            if (p.type === 'text-delta') {
              flight.text += p.text;
              delta = { content: p.text };
            } else delta = { tool_calls: [addToolCallPiece(flight.toolCalls, p)] };
            const c = chunk(
              first?.id ?? id,
              first?.created ?? created,
              target.model,
              first ? delta : { role: 'assistant', ...delta },
              null,
            );
            // Same dialect, same upstream, not the first chunk (it carries the role) nor a
            // continuation: the event goes out as its own bytes (ai/raw.ts).
            const raw = p.raw;
            if (raw && first && prefill === undefined && raw.id === first.id && raw.created === first.created) withRaw(c, raw.json);
            if (p.native) withNative(c, p.native);
            flight.push(c);
            break;
          }
          case 'finish':
            flight.server ??= {
              ...served,
              attempts: ctx.attempts.length + 1,
              ...failedSoFar(ctx),
              ...(ctx.waitedMs ? { waitedMs: ctx.waitedMs } : {}),
            };
            // The answer is whole: hand it on now, and let the adapter read the body's tail in the
            // background so its socket goes back to the pool instead of being dropped.
            draining = true;
            void drainRest(it);
            return { id, created, finishReason: p.finishReason, usage: p.usage, ...(p.native ? { native: p.native } : {}) };
          case 'malformed': {
            // Skipped and counted (never the payload); too many in one stream end it as broken.
            malformed++;
            this.#deps.metrics.malformedEvents.labels(target.provider, target.label).inc();
            const max = this.#deps.maxMalformedEvents;
            this.#deps.log.warn(
              { ...served, malformed, max },
              `${target.id} sent a stream event that is not JSON; skipped (${malformed} of at most ${max - 1})`,
            );
            if (malformed >= max) {
              throw new ProviderError(
                'TL_ERR_AI_STREAM_BROKEN',
                `${target.id} sent ${malformed} stream events that are not JSON (ai.maxMalformedEvents ${max})`,
                {
                  details: { ...served, kind: 'malformed' },
                },
              );
            }
            break;
          }
          case 'error':
            throw p.error;
        }
      }
    } finally {
      if (!draining) await it.return?.(undefined);
    }
    if (a.signal.aborted) throw new AbortError('the stream was aborted', { cause: a.signal.reason });
    throw new ProviderError('TL_ERR_AI_STREAM_BROKEN', `${target.id} ended its stream without finishing`, {
      details: { ...served, kind: 'stream_broken' },
    });
  }
}

/** Reads what is left of an upstream stream after its finish; a failure there no longer matters. */
async function drainRest(it: AsyncIterator<unknown>): Promise<void> {
  try {
    while (!(await it.next()).done);
  } catch {
    // Swallowed on purpose: the answer was already whole and delivered.
  }
}

export interface PumpEnd {
  id: string;
  created: number;
  finishReason: string;
  usage?: Usage;
  /** The upstream's own events after the last content part (native pass-through). */
  native?: NativeEvent[];
}

function asTasklaneError(err: unknown): TasklaneError {
  if (TasklaneError.isInstance(err)) return err;
  return internalError(err instanceof Error ? err.message : String(err), { cause: err });
}

function canContinue(err: TasklaneError): boolean {
  return err.retryable && err.code !== 'TL_ERR_ABORTED' && err.details.kind !== 'aborted';
}

/** The attempts that failed before this one, for the stream's meta (none: nothing added). */
function failedSoFar(ctx: DispatchContext): { failedAttempts?: AttemptRecord[] } {
  const failed = failedAttempts(ctx.attempts);
  return failed.length > 0 ? { failedAttempts: failed } : {};
}
