import type { ProviderError } from '../../../errors.js';
import type { StreamPart } from '../../provider.js';
import type { NativeEvent, RawEvent } from '../../raw.js';
import type { Usage } from '../../types.js';
import type { CallGuard } from './call-guard.js';
import { providerError, where } from './provider-error.js';

/** What one decoded upstream message means for the stream. */
export type Step =
  | { kind: 'start'; id: string; model: string; created: number }
  /** `raw`: the event means exactly this one piece and may pass through as its own bytes (ai/raw.ts). */
  | { kind: 'text'; text: string; raw?: RawEvent }
  | { kind: 'tool-call'; index: number; id?: string; name?: string; arguments?: string; raw?: RawEvent }
  /** A choice carried finish_reason: the answer is whole, usage or the end marker may follow. */
  | { kind: 'finish-reason'; reason: string }
  | { kind: 'usage'; usage: Usage }
  /** The end marker ([DONE], Ollama's done:true). */
  | { kind: 'done' }
  /** An event whose data did not parse: skipped (the orchestrator counts it). */
  | { kind: 'malformed' }
  | { kind: 'error'; error: ProviderError }
  /** The upstream event itself, for a native pass-through: rides on the next content part or the finish. */
  | { kind: 'native'; event: NativeEvent };

/** How long to wait for the upstream to end its body after the end marker before dropping the socket. */
const DRAIN_MS = 250;

/**
 * Turns an upstream's decoded messages (in batches, one per read) into stream parts with one rule
 * for every adapter: the answer is whole once a finish reason or the end marker arrived, and only
 * then ends with `finish` (also when the upstream then closes or stalls). Anything that ends it
 * earlier — a close, a stall, an in-band error — ends it with one `error` part. An event that does
 * not parse is reported as a `malformed` part and skipped; the orchestrator decides when too many
 * of them end the stream (ai.maxMalformedEvents).
 * Never a truncated success.
 */
export async function* driveStream<T>(
  source: AsyncIterable<T[]>,
  decode: (message: T) => Step[],
  guard: CallGuard,
  fallback: { model: string },
): AsyncGenerator<StreamPart> {
  const it = source[Symbol.asyncIterator]();
  let started = false;
  let reason: string | undefined;
  let usage: Usage | undefined;
  let sourceEnded = false;
  let endMarker = false;
  const start = (s?: { id: string; model: string; created: number }): StreamPart => {
    started = true;
    return {
      type: 'start',
      id: s?.id ?? `chatcmpl-${Date.now().toString(36)}`,
      model: s?.model ?? fallback.model,
      created: s?.created ?? Math.floor(Date.now() / 1000),
    };
  };
  /** Native events not yet handed on (a native pass-through, see Step 'native'). */
  let native: NativeEvent[] | undefined;
  const take = (): { native?: NativeEvent[] } => {
    if (!native) return {};
    const out = { native };
    native = undefined;
    return out;
  };
  const finish = (): StreamPart => ({ type: 'finish', finishReason: reason ?? 'stop', ...(usage ? { usage } : {}), ...take() });
  try {
    let broken: ProviderError | undefined;
    try {
      read: for (;;) {
        const r = await it.next();
        if (r.done) {
          sourceEnded = true;
          break;
        }
        for (const message of r.value) {
          for (const step of decode(message)) {
            if (step.kind === 'start') {
              if (!started) yield start(step);
            } else if (step.kind === 'text') {
              if (!started) yield start();
              if (step.text)
                yield step.raw
                  ? { type: 'text-delta', text: step.text, raw: step.raw }
                  : { type: 'text-delta', text: step.text, ...take() };
            } else if (step.kind === 'tool-call') {
              if (!started) yield start();
              const { kind: _kind, ...call } = step;
              yield { type: 'tool-call-delta', ...call, ...take() };
            } else if (step.kind === 'native') (native ??= []).push(step.event);
            else if (step.kind === 'finish-reason') reason = step.reason;
            else if (step.kind === 'usage') usage = step.usage;
            else if (step.kind === 'malformed') yield { type: 'malformed' };
            else if (step.kind === 'done') {
              endMarker = true;
              break read;
            } else {
              broken = step.error;
              break read;
            }
          }
        }
      }
    } catch (err) {
      broken = guard.errorFor(err);
    }
    const aborted = (broken?.details as { kind?: string } | undefined)?.kind === 'aborted';
    if (aborted || (reason === undefined && !endMarker)) {
      yield {
        type: 'error',
        error: broken ?? providerError('stream_broken', guard.ctx, `the stream of ${where(guard.ctx)} ended before the answer finished`),
      };
      return;
    }
    if (!started) yield start();
    yield finish();
    if (endMarker && !sourceEnded && !broken) {
      // Let the body end so the socket goes back to the pool; a silent upstream gets DRAIN_MS.
      guard.graceIdle(DRAIN_MS);
      try {
        while (!(await it.next()).done);
        sourceEnded = true;
      } catch {
        // Swallowed on purpose: the answer is already whole; a bad tail only costs the socket.
      }
    }
  } finally {
    if (sourceEnded) guard.finish();
    else guard.abort();
    await it.return?.(undefined);
  }
}
