import { AbortError, type TasklaneError } from '../errors.js';
import { abortReason } from '../util/async.js';
import type { AttemptOutcome, ChatChunk, Usage, ServedBy } from './types.js';

/** A tool call of the answer, as OpenAI's non-stream message carries it. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** Who is serving the stream, set when its first chunk goes out. */
export interface StreamServer extends ServedBy {
  attempts: number;
  /** The attempts that failed before the one serving, when there were any. */
  failedAttempts?: AttemptOutcome[];
  /** Cooldown wait before the serving call, in ms. */
  waitedMs?: number;
}

/**
 * One upstream stream fanned out to every caller that asked for the same thing. Chunks are kept
 * so a caller that joins late replays them, the cache gets the whole answer, and a continuation
 * knows the text already sent. `ready` settles at the first chunk (or the failure before it):
 * until then nothing has reached any caller and the stream may still fail over.
 */
export class StreamFlight {
  readonly chunks: ChatChunk[] = [];
  readonly controller = new AbortController();
  /** The text sent so far. */
  text = '';
  /** Tool calls sent so far (by their index), put together from their pieces. */
  toolCalls: ToolCall[] = [];
  usage?: Usage;
  finishReason?: string;
  server?: StreamServer;
  error?: TasklaneError;
  done = false;
  subscribers = 0;
  readonly ready: Promise<void>;
  #readyResolve!: () => void;
  #readyReject!: (err: unknown) => void;
  /** Subscribers waiting for the next chunk. */
  #waiters: Array<() => void> = [];

  constructor() {
    this.ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    // A failure before any subscriber looked is still theirs to see through `ready`.
    this.ready.catch(() => {});
  }

  /** True once anything went out: from then on a failure is reported in-band. */
  get committed(): boolean {
    return this.chunks.length > 0;
  }

  push(chunk: ChatChunk): void {
    this.chunks.push(chunk);
    if (this.chunks.length === 1) this.#readyResolve();
    this.#notify();
  }

  finish(reason: string, usage: Usage | undefined): void {
    this.finishReason = reason;
    this.usage = usage;
    this.done = true;
    this.#readyResolve();
    this.#notify();
  }

  fail(err: TasklaneError): void {
    if (this.done) return;
    this.error = err;
    this.done = true;
    this.#readyReject(err);
    this.#notify();
  }

  /** The chunks for one caller, from the first; usage chunk when asked. Leaving aborts the upstream if no one else listens. */
  async *subscribe(signal: AbortSignal | undefined, includeUsage: boolean): AsyncGenerator<ChatChunk, void, undefined> {
    this.subscribers++;
    let i = 0;
    // One abort listener for the whole subscription: it only wakes the wait, the loop throws.
    let wake: (() => void) | undefined;
    const onAbort = (): void => wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal?.aborted) throw abortReason(signal);
        if (i < this.chunks.length) {
          yield this.chunks[i++]!;
          continue;
        }
        if (this.done) {
          if (this.error) throw this.error;
          if (includeUsage && this.usage) yield usageChunk(this.chunks[0], this.usage);
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          this.#waiters.push(resolve);
        });
        wake = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (--this.subscribers === 0 && !this.done) this.controller.abort(new AbortError('every caller of this stream went away'));
    }
  }

  #notify(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

export function usageChunk(first: ChatChunk | undefined, usage: Usage): ChatChunk {
  return {
    id: first?.id ?? 'chatcmpl-tasklane',
    object: 'chat.completion.chunk',
    created: first?.created ?? Math.floor(Date.now() / 1000),
    model: first?.model ?? '',
    choices: [],
    usage,
  };
}
