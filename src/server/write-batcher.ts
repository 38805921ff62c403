import type { Socket } from 'node:net';

/**
 * Holds socket writes made in one turn of the event loop and lets them go together: a burst of
 * events to a thousand sockets then costs one writev per socket instead of one per event, which
 * is most of the cost of a fan-out. Sockets are corked on their first write in a turn and all
 * uncorked by one setImmediate, after every subscription loop has run its microtasks.
 */
export class WriteBatcher {
  #held = new Set<Socket>();
  #scheduled = false;

  hold(socket: Socket): void {
    if (this.#held.has(socket)) return;
    socket.cork();
    this.#held.add(socket);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#release);
    }
  }

  readonly #release = (): void => {
    this.#scheduled = false;
    const held = this.#held;
    this.#held = new Set();
    for (const socket of held) if (!socket.destroyed) socket.uncork();
  };
}
