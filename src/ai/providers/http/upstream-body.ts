import type { Readable } from 'node:stream';
import type { CallGuard } from './call-guard.js';

/** Pause the upstream body once this many chunks wait for a slow consumer; resume below LOW. */
const HIGH = 64;
const LOW = 16;

/**
 * A response body as text chunks, timed on arrival rather than on consumption: each chunk feeds
 * the guard's idle clock as it lands, and when the consumer falls behind the body is paused and
 * the idle clock with it, so a slow reader never looks like a stalled upstream.
 */
export async function* chunkSource(body: Readable, guard: CallGuard): AsyncGenerator<string> {
  const queue: string[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  // undici's body ignores setEncoding; a streaming decoder keeps multi-byte characters whole.
  const decoder = new TextDecoder();
  const onData = (b: Buffer) => {
    guard.chunk();
    const s = decoder.decode(b, { stream: true });
    if (s) queue.push(s);
    if (queue.length >= HIGH && !body.isPaused()) {
      body.pause();
      guard.pauseIdle();
    }
    poke();
  };
  const onEnd = () => {
    ended = true;
    // Nothing more will arrive: a slow reader of what is queued must not trip the idle clock.
    guard.pauseIdle();
    poke();
  };
  const onError = (err: unknown) => {
    failure ??= err;
    poke();
  };
  const onClose = () => {
    if (!ended) failure ??= new Error('the response body closed before its end');
    poke();
  };
  body.on('data', onData);
  body.on('end', onEnd);
  body.on('error', onError);
  body.on('close', onClose);
  try {
    for (;;) {
      if (queue.length > 0) {
        const s = queue.shift()!;
        if (body.isPaused() && queue.length < LOW) {
          body.resume();
          guard.resumeIdle();
        }
        yield s;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (ended) return;
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('error', onError);
    body.off('close', onClose);
    // Swallowed on purpose: the body is being dropped, an error on it now has no reader.
    body.on('error', () => {});
    if (!ended) body.destroy();
  }
}

/** Reads a whole body as text, up to `maxBytes` (a larger answer is an error, not a truncation). */
export async function readText(body: Readable, guard: CallGuard, maxBytes: number): Promise<string> {
  let text = '';
  for await (const s of chunkSource(body, guard)) {
    text += s;
    if (text.length > maxBytes) throw new Error(`the response body is larger than ${maxBytes} bytes`);
  }
  return text;
}
