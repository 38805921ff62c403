import type { JobEvent } from '../jobs/types.js';

/**
 * Serialized job events, made once per event whatever the number of subscribers: the event hub
 * hands the same event object to every subscriber, so a fan-out to a thousand sockets costs one
 * JSON.stringify and one scrub. Entries go away with the events (WeakMap).
 */
export class EventFrames {
  readonly #scrub: (text: string) => string;
  readonly #sse = new WeakMap<JobEvent, string>();
  readonly #socket = new WeakMap<JobEvent, Buffer>();

  constructor(scrub: (text: string) => string) {
    this.#scrub = scrub;
  }

  /** `id: <seq>`, `event: <type>`, `data: <json>`, blank line. */
  sse(event: JobEvent): string {
    let frame = this.#sse.get(event);
    if (frame === undefined) {
      frame = `id: ${event.seq}\nevent: ${event.type}\ndata: ${this.#json(event)}\n\n`;
      this.#sse.set(event, frame);
    }
    return frame;
  }

  /** `{"type":"event","event":{...}}` as UTF-8, ready for a text frame. */
  socket(event: JobEvent): Buffer {
    let frame = this.#socket.get(event);
    if (frame === undefined) {
      frame = Buffer.from(`{"type":"event","event":${this.#json(event)}}`);
      this.#socket.set(event, frame);
    }
    return frame;
  }

  #json(event: JobEvent): string {
    return this.#scrub(JSON.stringify(event));
  }
}
