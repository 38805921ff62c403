import { createParser, type EventSourceMessage } from 'eventsource-parser';

/**
 * Server-sent events out of text chunks, as the batch each chunk completes (one step per upstream
 * read, not per event). Comments and `retry:` lines are skipped by the parser.
 */
export async function* sseEvents(chunks: AsyncIterable<string>): AsyncGenerator<EventSourceMessage[]> {
  let pending: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => pending.push(e) });
  for await (const c of chunks) {
    parser.feed(c);
    if (pending.length === 0) continue;
    const batch = pending;
    pending = [];
    yield batch;
  }
  // A last event without its blank line is incomplete: the stream ended mid-event, so drop it.
}

/** Newline-delimited JSON lines (as text) out of text chunks, batched per chunk; a last line without newline counts. */
export async function* ndjsonLines(chunks: AsyncIterable<string>): AsyncGenerator<string[]> {
  let buf = '';
  for await (const c of chunks) {
    buf += c;
    const lines: string[] = [];
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) lines.push(line);
    }
    if (lines.length > 0) yield lines;
  }
  if (buf.trim()) yield [buf.trim()];
}
