/**
 * Sessions with events waiting, flushed together once per turn of the event loop (setImmediate,
 * after the turn's emits and I/O): every subscriber of a job gets its events in one write per
 * socket, however many events and subscriptions the turn produced.
 */
export class FlushQueue {
  #due = new Set<{ flush(): void }>();
  #scheduled = false;

  schedule(session: { flush(): void }): void {
    this.#due.add(session);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#run);
  }

  readonly #run = (): void => {
    this.#scheduled = false;
    const due = this.#due;
    this.#due = new Set();
    for (const s of due) s.flush();
  };
}
