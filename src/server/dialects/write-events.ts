import type { ServerResponse } from 'node:http';
import { drained } from '../routes/ai.js';

/**
 * Writes named SSE events (`event: NAME` + `data: JSON`), as the Anthropic Messages and OpenAI
 * Responses streams carry them. Events made from one upstream read go out in one TCP segment.
 */
export class EventWriter {
  readonly #res: ServerResponse;
  #corked = false;
  readonly #uncork = (): void => {
    this.#corked = false;
    this.#res.uncork();
  };

  constructor(res: ServerResponse) {
    this.#res = res;
  }

  get closed(): boolean {
    return this.#res.destroyed;
  }

  /** False once the client is gone. */
  async write(events: Array<{ event: string; data: unknown }>): Promise<boolean> {
    const res = this.#res;
    if (res.destroyed) return false;
    if (events.length === 0) return true;
    if (!this.#corked) {
      this.#corked = true;
      res.cork();
      process.nextTick(this.#uncork);
    }
    let text = '';
    for (const e of events) text += `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
    if (!res.write(text)) await drained(res);
    return !res.destroyed;
  }

  end(events: Array<{ event: string; data: unknown }> = []): void {
    if (this.#res.destroyed) return;
    let text = '';
    for (const e of events) text += `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
    this.#res.end(text);
  }
}
