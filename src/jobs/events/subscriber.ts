/**
 * One reader of a job's event stream: a bounded buffer that takes an event only if its seq is the
 * next one expected, and otherwise marks itself for a refill (see event-hub.ts).
 */
import type { TasklaneError } from '../../errors.js';
import { TERMINAL_EVENTS, type EventWatch, type JobEvent } from '../types.js';

export class Subscriber implements AsyncIterator<JobEvent>, EventWatch {
  cursor: number;
  needsFill = true;
  filling = false;
  ended = false;
  error?: TasklaneError;
  #buf: JobEvent[] = [];
  #head = 0;
  #wake?: () => void;
  readonly #max: number;
  readonly #onEnd: () => void;
  /** Push mode (see EventWatch): called instead of waking an iterator; the reader then take()s. */
  readonly #onReady?: () => void;

  constructor(
    readonly jobId: string,
    fromSeq: number,
    max: number,
    onEnd: () => void,
    onReady?: () => void,
  ) {
    this.cursor = fromSeq;
    this.#max = max;
    this.#onEnd = onEnd;
    this.#onReady = onReady;
  }

  /** Push mode: every buffered event, in seq order, leaving the buffer empty. */
  take(): JobEvent[] {
    if (this.#head >= this.#buf.length) return [];
    const out = this.#head === 0 ? this.#buf : this.#buf.slice(this.#head);
    this.#buf = [];
    this.#head = 0;
    return out;
  }

  close(): void {
    this.end();
  }

  get buffered(): number {
    return this.#buf.length - this.#head;
  }

  /** Takes the event if it is the next one; otherwise notes that a refill is needed. */
  offer(event: JobEvent): void {
    if (this.ended || event.seq <= this.cursor) return;
    if (event.seq !== this.cursor + 1 || this.buffered >= this.#max) {
      this.needsFill = true;
      return;
    }
    this.cursor = event.seq;
    this.#buf.push(event);
    if (TERMINAL_EVENTS.has(event.type)) this.end();
    this.#signal();
  }

  /** Stops a store follow feeding this subscriber (engines with follow()). */
  stopFollow?: () => void;

  end(error?: TasklaneError): void {
    if (this.ended) return;
    this.ended = true;
    this.error ??= error;
    this.stopFollow?.();
    this.#onEnd();
    this.#signal();
  }

  async next(): Promise<IteratorResult<JobEvent>> {
    for (;;) {
      if (this.#head < this.#buf.length) {
        const value = this.#buf[this.#head++]!;
        if (this.#head > 1024 && this.#head * 2 > this.#buf.length) {
          this.#buf = this.#buf.slice(this.#head);
          this.#head = 0;
        }
        return { value, done: false };
      }
      if (this.error) {
        const err = this.error;
        this.error = undefined;
        throw err;
      }
      if (this.ended) return { value: undefined, done: true };
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<JobEvent>> {
    this.end();
    return { value: undefined, done: true };
  }

  #signal(): void {
    if (this.#onReady) return this.#onReady();
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
