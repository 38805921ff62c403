import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** Server-sent events out of text chunks (comments and `retry:` lines are skipped by the parser). */
export async function* sseEvents(chunks: AsyncIterable<string>): AsyncGenerator<EventSourceMessage> {
  const pending: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => pending.push(e) });
  for await (const c of chunks) {
    parser.feed(c);
    while (pending.length > 0) yield pending.shift()!;
  }
  // A last event without its blank line is incomplete: the stream ended mid-event, so drop it.
}

/** Newline-delimited JSON lines (as text) out of text chunks; a last line without newline counts. */
export async function* ndjsonLines(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let buf = '';
  for await (const c of chunks) {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield line;
    }
  }
  if (buf.trim()) yield buf.trim();
}
