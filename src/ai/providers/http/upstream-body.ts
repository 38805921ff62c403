import type { CallGuard } from './call-guard.js';

/** Pause the upstream body once this many chunks wait for a slow consumer; resume below LOW. */
const HIGH = 64;
const LOW = 16;

/**
 * An upstream response body as it arrives from undici's handler, read once: as text chunks
 * (`chunks()`) or whole (`text()`). Chunks are timed on arrival rather than on consumption:
 * each one feeds the guard's idle clock as it lands, and when the consumer falls behind the socket
 * is paused and the idle clock with it, so a slow reader never looks like a stalled upstream.
 * A reader that leaves before the end drops the request (undici then frees the socket).
 */
export class UpstreamBody {
  readonly #guard: CallGuard;
  readonly #resume: () => void;
  readonly #drop: (err: Error) => void;
  #queue: Buffer[] = [];
  #bytes = 0;
  #ended = false;
  #failure: unknown;
  #paused = false;
  /** Whole-body reads never pause: everything is kept until the end anyway. */
  #whole = false;
  #maxBytes = Infinity;
  #wake: (() => void) | undefined;

  constructor(guard: CallGuard, resume: () => void, drop: (err: Error) => void) {
    this.#guard = guard;
    this.#resume = resume;
    this.#drop = drop;
  }

  /** A chunk arrived; false asks undici to pause the socket. */
  push(b: Buffer): boolean {
    this.#guard.chunk();
    this.#queue.push(b);
    this.#bytes += b.length;
    if (this.#bytes > this.#maxBytes) {
      this.fail(new Error(`the response body is larger than ${this.#maxBytes} bytes`));
      this.#drop(this.#failure as Error);
      return false;
    }
    this.#poke();
    if (!this.#whole && this.#queue.length >= HIGH) {
      this.#paused = true;
      this.#guard.pauseIdle();
      return false;
    }
    return true;
  }

  end(): void {
    this.#ended = true;
    // Nothing more will arrive: a slow reader of what is queued must not trip the idle clock.
    this.#guard.pauseIdle();
    this.#poke();
  }

  fail(err: unknown): void {
    this.#failure ??= err;
    this.#poke();
  }

  async *chunks(): AsyncGenerator<string> {
    // A streaming decoder keeps multi-byte characters whole across chunks.
    const decoder = new TextDecoder();
    try {
      for (;;) {
        if (this.#queue.length > 0) {
          const b = this.#queue.shift()!;
          if (this.#paused && this.#queue.length < LOW) this.#unpause();
          const s = decoder.decode(b, { stream: true });
          if (s) yield s;
          continue;
        }
        if (this.#failure !== undefined) throw this.#failure;
        if (this.#ended) return;
        await this.#next();
      }
    } finally {
      this.#leave();
    }
  }

  /** The whole body as text, up to `maxBytes` (a larger answer is an error, not a truncation). */
  async text(maxBytes: number): Promise<string> {
    this.#whole = true;
    this.#maxBytes = maxBytes;
    if (this.#paused) this.#unpause();
    try {
      for (;;) {
        if (this.#failure !== undefined) throw this.#failure;
        if (this.#bytes > maxBytes) throw new Error(`the response body is larger than ${maxBytes} bytes`);
        if (this.#ended) {
          const q = this.#queue;
          this.#queue = [];
          return q.length === 1 ? q[0]!.toString('utf8') : Buffer.concat(q).toString('utf8');
        }
        await this.#next();
      }
    } finally {
      this.#leave();
    }
  }

  #unpause(): void {
    this.#paused = false;
    this.#guard.resumeIdle();
    this.#resume();
  }

  #next(): Promise<void> {
    return new Promise<void>((r) => (this.#wake = r));
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #leave(): void {
    this.#queue = [];
    if (!this.#ended && this.#failure === undefined) this.#drop(new Error('the response body was dropped before its end'));
  }
}
