import type { ServerResponse } from 'node:http';
import { headerValues } from './header-values.js';
import { sseErrorFrame, type Dialect, type Scrub } from './wire-errors.js';

export interface SseOptions {
  /** Extra headers of the answer (x-tasklane-*); made safe before they are written. */
  headers?: Record<string, string>;
  /** A `: ping` comment this often, in ms, so proxies and clients see the stream is alive; unset = none. */
  heartbeatMs?: number;
  /** A comment written right after the headers (flushes them through buffering proxies). */
  preamble?: string;
  /**
   * Frames written in one turn of the event loop go out as one TCP segment (a burst of chunks
   * from one upstream read is one write, not one per chunk).
   */
  cork?: boolean;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/**
 * The one Server-Sent Events writer, for the chat gateway and job event streams. `send()` returns
 * a promise only when the socket is past its high-water mark: the caller awaits it before pulling
 * the next event, so a slow reader is never buffered for. Ends with `end()` (a last frame) or
 * `fail()` (an error frame in the stream's dialect); a closed peer makes every call a no-op.
 */
export class SseWriter {
  readonly #res: ServerResponse;
  #beat?: NodeJS.Timeout;
  #corked = false;
  readonly #cork: boolean;

  constructor(res: ServerResponse, options: SseOptions = {}) {
    this.#res = res;
    this.#cork = options.cork === true;
    res.writeHead(200, { ...SSE_HEADERS, ...headerValues(options.headers ?? {}) });
    if (options.preamble !== undefined) res.write(`: ${options.preamble}\n\n`);
    if (options.heartbeatMs !== undefined && options.heartbeatMs > 0) {
      this.#beat = setInterval(() => {
        if (!this.closed) res.write(': ping\n\n');
      }, options.heartbeatMs);
      this.#beat.unref();
    }
    res.once('close', () => clearInterval(this.#beat));
  }

  /** True once the peer went away or the stream was ended. */
  get closed(): boolean {
    return this.#res.destroyed || this.#res.writableEnded;
  }

  /** Writes one frame; a promise when the caller should wait for the socket to drain (or close, or abort). */
  send(frame: string, signal?: AbortSignal): Promise<void> | undefined {
    if (this.closed) return undefined;
    if (this.#cork && !this.#corked) {
      this.#corked = true;
      this.#res.cork();
      process.nextTick(this.#uncork);
    }
    if (this.#res.write(frame)) return undefined;
    return drained(this.#res, signal);
  }

  /** Ends the stream, with a last frame if given. */
  end(frame?: string): void {
    clearInterval(this.#beat);
    if (this.closed) return;
    if (frame === undefined) this.#res.end();
    else this.#res.end(frame);
  }

  /** Ends the stream with an error frame in the stream's dialect (scrubbed). */
  fail(err: unknown, options: { dialect?: Dialect; scrub: Scrub }): void {
    this.end(sseErrorFrame(err, options));
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#res.uncork();
  };
}

function drained(res: ServerResponse, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.removeListener('drain', done);
      res.removeListener('close', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
    signal?.addEventListener('abort', done, { once: true });
  });
}
