import type { JobEvent } from '../client/index.js';
import type { Style } from './style.js';

const BAR = 24;

/** How a watched job ended, for the final line. */
export interface Ending {
  state: string;
  error?: { code: string; message: string };
}

/**
 * Shows a job's events. On a terminal: status lines, one progress bar redrawn in place with the
 * elapsed time, and a final line that stays (the bar is replaced by it, not erased). Elsewhere:
 * one plain line per event, every one of them (a log or a CI run must not miss a step).
 *
 * Times are the job's own, from the first event seen (its `at` fields), so a replayed job shows
 * the times it really took, not how fast the replay came.
 */
export class ProgressView {
  readonly #out: NodeJS.WritableStream & { isTTY?: boolean };
  readonly #s: Style;
  readonly #tty: boolean;
  #t0?: number;
  #last?: number;
  #drawn = false;

  constructor(out: NodeJS.WritableStream & { isTTY?: boolean }, s: Style) {
    this.#out = out;
    this.#s = s;
    this.#tty = out.isTTY === true;
  }

  update(event: JobEvent): void {
    this.#t0 ??= event.at;
    this.#last = event.at;
    // The end is told once, by finish().
    if (event.type === 'succeeded' || event.type === 'dead' || event.type === 'cancelled') return;
    if (event.type === 'progress') return this.#progress(event);
    this.#line(`${this.#s.dim(this.#clock(event.at))} ${describe(event, this.#s)}`);
  }

  /** The final line; it stays on screen. */
  finish(end: Ending, id: string): void {
    const took = this.#t0 !== undefined && this.#last !== undefined ? ` in ${seconds(this.#last - this.#t0)}` : '';
    const s = this.#s;
    let text: string;
    if (end.state === 'succeeded') text = `${s.green('✓')} job ${id} ${s.green('succeeded')}${took}`;
    else if (end.state === 'cancelled') text = `${s.yellow('■')} job ${id} ${s.yellow('cancelled')}${took}`;
    else text = `${s.red('✗')} job ${id} ${s.red(end.state)}${took}${end.error ? `: ${end.error.code}: ${end.error.message}` : ''}`;
    this.#line(text);
  }

  /** Clears a half-drawn bar (before a message that is not the final line, e.g. on Ctrl+C). */
  interrupt(): void {
    if (this.#drawn) this.#out.write('\r\x1b[2K');
    this.#drawn = false;
  }

  #progress(event: JobEvent): void {
    const data = event.data;
    const fraction = fractionOf(data);
    const label = fraction === undefined ? (JSON.stringify(data)?.slice(0, 60) ?? '') : `${Math.round(fraction * 100)}%`;
    const detail = detailOf(data);
    const clock = this.#clock(event.at);
    if (this.#tty) {
      const filled = fraction === undefined ? 0 : Math.round(fraction * BAR);
      const bar = fraction === undefined ? '' : `${this.#s.cyan('█'.repeat(filled))}${this.#s.dim('░'.repeat(BAR - filled))} `;
      this.#out.write(`\r\x1b[2K${bar}${label}${detail} ${this.#s.dim(clock)}`);
      this.#drawn = true;
      return;
    }
    this.#out.write(`${clock} progress ${label}${detail}\n`);
  }

  #line(text: string): void {
    if (this.#drawn) this.#out.write('\r\x1b[2K');
    this.#drawn = false;
    this.#out.write(`${text}\n`);
  }

  #clock(at: number): string {
    return `[${seconds(at - (this.#t0 ?? at))}]`;
  }
}

function seconds(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

function describe(event: JobEvent, s: Style): string {
  const d = (event.data ?? {}) as Record<string, any>;
  switch (event.type) {
    case 'enqueued':
      return d.retry ? 'queued again' : 'queued';
    case 'started':
      return `started (attempt ${d.attempt ?? event.attempt ?? '?'})`;
    case 'retrying':
      return d.released
        ? 'given back to the queue (server stopping); it will run again'
        : s.yellow(`attempt failed (${d.error?.code ?? 'error'}: ${d.error?.message ?? ''}); retrying`);
    case 'log':
      return `log: ${d.msg ?? JSON.stringify(d)}`;
    case 'cancel-requested':
      return s.yellow('cancel requested');
    case 'step.started':
      return s.dim(`step ${stepName(d)} started`);
    case 'step.completed':
      return `${s.green('✓')} step ${stepName(d)} completed${typeof d.durationMs === 'number' ? ` in ${took(d.durationMs)}` : ''}`;
    case 'step.failed':
      return s.red(`✗ step ${stepName(d)} failed${d.error ? ` (${d.error.code}: ${d.error.message})` : ''}`);
    case 'step.replayed':
      return s.dim(`step ${stepName(d)} replayed from the journal (not run again)`);
    case 'waiting':
      return s.yellow(`waiting ${waitingText(d.waitingFor)}`);
    case 'woken':
      return `woke${d.by === 'signal' && d.name ? ` on signal "${d.name}"` : d.by ? ` (${d.by})` : ''}`;
    case 'child.started':
      return `child ${d.id} (${d.task}) started`;
    case 'child.ended': {
      const text = `child ${d.id} (${d.task}) ${d.state}${d.error ? `: ${d.error.code}` : ''}`;
      return d.state === 'succeeded' ? text : s.yellow(text);
    }
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

/** A step's duration: milliseconds under a second, else as the clock shows it. */
function took(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : seconds(ms);
}

/** A step's name, and which run of that name it is from the second on (occurrences count from 0). */
function stepName(d: Record<string, any>): string {
  return typeof d.occurrence === 'number' && d.occurrence > 0 ? `"${d.name}" #${d.occurrence + 1}` : `"${d.name}"`;
}

/** What a parked job waits for, as `waitingFor` says it (a time, a signal, children). */
function waitingText(w: Record<string, any> | undefined): string {
  if (!w) return '';
  if (w.kind === 'sleep') return `until ${new Date(w.until).toISOString()}`;
  if (w.kind === 'signal') return `for signal "${w.name}"${w.timeoutAt ? ` (times out ${new Date(w.timeoutAt).toISOString()})` : ''}`;
  if (w.kind === 'children') return `for ${w.ids?.length ?? 0} child job${w.ids?.length === 1 ? '' : 's'}`;
  return '';
}
