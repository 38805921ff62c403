import type { SseWriter } from '../streams/sse-writer.js';

/**
 * Writes named SSE events (`event: NAME` + `data: JSON`), as the Anthropic Messages and OpenAI
 * Responses streams carry them, through the one SSE writer (backpressure, corking: events made
 * from one upstream read go out in one TCP segment).
 */
export class EventWriter {
  readonly #sse: SseWriter;

  constructor(sse: SseWriter) {
    this.#sse = sse;
  }

  get closed(): boolean {
    return this.#sse.closed;
  }

  /** False once the client is gone. */
  async write(events: Array<{ event: string; data: unknown }>): Promise<boolean> {
    if (this.#sse.closed) return false;
    if (events.length === 0) return true;
    await this.#sse.send(frames(events));
    return !this.#sse.closed;
  }

  /** Events as the upstream wrote them (a native pass-through: `data` is already JSON text). False once the client is gone. */
  async writeNative(events: Array<{ event: string; data: string }>): Promise<boolean> {
    if (this.#sse.closed) return false;
    let text = '';
    for (const e of events) text += `event: ${e.event}\ndata: ${e.data}\n\n`;
    if (text) await this.#sse.send(text);
    return !this.#sse.closed;
  }

  end(events: Array<{ event: string; data: unknown }> = []): void {
    this.#sse.end(frames(events));
  }
}

function frames(events: Array<{ event: string; data: unknown }>): string {
  let text = '';
  for (const e of events) text += `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
  return text;
}
