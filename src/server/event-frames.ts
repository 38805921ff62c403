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
  readonly #wsFrame = new WeakMap<JobEvent, Buffer>();

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

  /**
   * The same message as a whole WebSocket text frame (header included). Server frames are not
   * masked, so the bytes are the same for every socket: written as they are, once per socket.
   */
  wsFrame(event: JobEvent): Buffer {
    let frame = this.#wsFrame.get(event);
    if (frame === undefined) {
      frame = textFrame(this.socket(event));
      this.#wsFrame.set(event, frame);
    }
    return frame;
  }

  #json(event: JobEvent): string {
    return this.#scrub(JSON.stringify(event));
  }
}

/** An unmasked, final WebSocket text frame (RFC 6455 §5.2) around `payload`. */
export function textFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + n);
  out[0] = 0x81;
  if (n < 126) out[1] = n;
  else if (n < 65_536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(out, head);
  return out;
}
