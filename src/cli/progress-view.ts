import type { JobEvent } from '../client/index.js';

const BAR = 30;

/**
 * Shows a job's progress: on a terminal, one bar redrawn in place; elsewhere, plain lines
 * (status events always, progress at most every 250 ms and at 100 %) so logs stay readable.
 */
export class ProgressView {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  #lastLine = 0;
  #drawn = false;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  update(event: JobEvent): void {
    if (event.type === 'progress') return this.#progress(event.data);
    this.#clear();
    this.#out.write(`${describe(event)}\n`);
  }

  finish(): void {
    this.#clear();
  }

  #progress(data: unknown): void {
    const fraction = fractionOf(data);
    const label = fraction === undefined ? JSON.stringify(data)?.slice(0, 60) ?? '' : `${Math.round(fraction * 100)}%`;
    const detail = detailOf(data);
    if (this.#tty) {
      const filled = fraction === undefined ? 0 : Math.round(fraction * BAR);
      const bar = fraction === undefined ? '' : `[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] `;
      this.#out.write(`\r\x1b[2K${bar}${label}${detail}`);
      this.#drawn = true;
      return;
    }
    const now = Date.now();
    if (now - this.#lastLine < 250 && fraction !== 1) return;
    this.#lastLine = now;
    this.#out.write(`progress ${label}${detail}\n`);
  }

  #clear(): void {
    if (this.#drawn) this.#out.write('\r\x1b[2K');
    this.#drawn = false;
  }
}

function describe(event: JobEvent): string {
  const d = (event.data ?? {}) as Record<string, any>;
  switch (event.type) {
    case 'started':
      return `started (attempt ${d.attempt ?? event.attempt ?? '?'})`;
    case 'retrying':
      return d.released ? 'given back to the queue (server stopping); it will run again' : `attempt failed (${d.error?.code ?? 'error'}: ${d.error?.message ?? ''}); retrying`;
    case 'log':
      return `log: ${d.msg ?? JSON.stringify(d)}`;
    case 'succeeded':
      return 'succeeded';
    case 'dead':
      return `dead: ${d.error?.code ?? ''} ${d.error?.message ?? ''}`.trim();
    case 'cancelled':
      return 'cancelled';
    default:
      return event.type;
  }
}

/** 0..1 from the usual progress shapes: {step, of}, {done, total}, {current, total}, {percent}. */
function fractionOf(data: unknown): number | undefined {
  if (typeof data === 'number' && data >= 0 && data <= 1) return data;
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  const pairs: Array<[unknown, unknown]> = [
    [d.step, d.of],
    [d.done, d.total],
    [d.current, d.total],
  ];
  for (const [a, b] of pairs) if (typeof a === 'number' && typeof b === 'number' && b > 0) return Math.min(1, Math.max(0, a / b));
  if (typeof d.percent === 'number') return Math.min(1, Math.max(0, d.percent / 100));
  return undefined;
}

function detailOf(data: unknown): string {
  if (typeof data !== 'object' || data === null) return '';
  const d = data as Record<string, unknown>;
  if (typeof d.step === 'number' && typeof d.of === 'number') return ` (${d.step}/${d.of})`;
  if (typeof d.message === 'string') return ` ${d.message.slice(0, 60)}`;
  return '';
}
