import type { StreamFlight } from './stream-flight.js';
import type { AiMeta, ChatChunk } from './types.js';

/** A stream whose first chunk is ready: who serves it, then the chunks (the first included). */
export interface StreamResult {
  /** Provider, model, key index, attempts, latency to the first chunk, cache status; `usage` once done. */
  meta: AiMeta;
  chunks: AsyncIterable<ChatChunk>;
}

/**
 * A plain iterator over a flight subscription (no generator of its own): the first chunk, already
 * read, then the rest; the flight's usage goes into `meta` at the end; return() leaves the flight.
 */
export function subscriberChunks(
  first: IteratorResult<ChatChunk, void>,
  it: AsyncGenerator<ChatChunk, void, undefined>,
  flight: StreamFlight,
  meta: AiMeta,
): AsyncIterableIterator<ChatChunk> {
  let head: IteratorResult<ChatChunk, void> | undefined = first.done ? undefined : first;
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (head) {
        const r = head;
        head = undefined;
        return r as IteratorResult<ChatChunk>;
      }
      const r = await it.next();
      if (r.done && flight.usage) meta.usage = flight.usage;
      if (r.done && flight.usage?.cost !== undefined) meta.cost = flight.usage.cost;
      return r as IteratorResult<ChatChunk>;
    },
    async return() {
      head = undefined;
      await it.return();
      return { done: true, value: undefined };
    },
  };
}
