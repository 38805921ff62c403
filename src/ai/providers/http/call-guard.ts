import type { ProviderError } from '../../../errors.js';
import type { PhaseTimeouts, TimeoutPhase } from '../../provider.js';
import { isProviderError, providerError, where, type CallContext } from './provider-error.js';

/** Network errors that mean the upstream could not be reached (before any header arrived). */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

const codeOf = (err: unknown): string | undefined => {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
};

/**
 * One upstream call's deadlines and abort wiring. `first_byte` runs from the start until the first
 * body byte, `total` over the whole call, `idle` between body chunks; the caller's signal aborts
 * too. Whichever fires first aborts the request through `onAbort` (undici then frees the socket)
 * and is remembered, so the error the request rejects with is turned into the right ProviderError.
 */
export class CallGuard {
  readonly ctx: CallContext;
  /** Set by the request: drops it on the wire. */
  onAbort: ((err: ProviderError) => void) | undefined;
  #timeouts: PhaseTimeouts;
  readonly #external: AbortSignal;
  #cause: ProviderError | undefined;
  #firstByte: NodeJS.Timeout | undefined;
  #idle: NodeJS.Timeout | undefined;
  #idleMs = 0;
  #total: NodeJS.Timeout | undefined;
  #gotHeaders = false;
  #gotByte = false;
  #idlePaused = false;
  #done = false;
  readonly #onAbort = () =>
    this.#fail(providerError('aborted', this.ctx, `the call to ${where(this.ctx)} was aborted`, { cause: this.#external.reason }));

  constructor(ctx: CallContext, timeouts: PhaseTimeouts, signal: AbortSignal) {
    this.ctx = ctx;
    this.#timeouts = timeouts;
    this.#external = signal;
    if (signal.aborted) this.#onAbort();
    else signal.addEventListener('abort', this.#onAbort, { once: true });
    if (this.#cause) return;
    this.#total = setTimeout(() => this.#trip('total', timeouts.totalMs), timeouts.totalMs);
    this.#firstByte = setTimeout(() => this.#trip('first_byte', timeouts.firstByteMs), timeouts.firstByteMs);
  }

  get gotHeaders(): boolean {
    return this.#gotHeaders;
  }

  /** The error that ended the call, once a deadline fired or the caller aborted. */
  get cause(): ProviderError | undefined {
    return this.#cause;
  }

  headers(): void {
    this.#gotHeaders = true;
  }

  /** A body chunk arrived: the first one ends the first-byte phase; each restarts the idle clock. */
  chunk(): void {
    if (this.#done) return;
    if (!this.#gotByte) {
      this.#gotByte = true;
      clearTimeout(this.#firstByte);
    }
    this.#armIdle();
  }

  /** The consumer is slow and the body is paused: upstream silence is ours, not theirs. */
  pauseIdle(): void {
    this.#idlePaused = true;
    this.#stopIdle();
  }

  resumeIdle(): void {
    this.#idlePaused = false;
    if (this.#gotByte) this.#armIdle();
  }

  /** Shortens the idle clock, e.g. to drain what follows a finished answer without waiting long. */
  graceIdle(ms: number): void {
    this.#timeouts = { ...this.#timeouts, idleChunkMs: Math.min(ms, this.#timeouts.idleChunkMs) };
    this.#armIdle();
  }

  #armIdle(): void {
    if (this.#idlePaused || this.#done) return this.#stopIdle();
    const ms = this.#timeouts.idleChunkMs;
    // One timer per call, restarted on each chunk (no new timer unless the clock changed).
    if (this.#idle && this.#idleMs === ms) {
      this.#idle.refresh();
      return;
    }
    this.#stopIdle();
    this.#idleMs = ms;
    this.#idle = setTimeout(() => this.#trip('idle', ms), ms);
  }

  #stopIdle(): void {
    clearTimeout(this.#idle);
    this.#idle = undefined;
  }

  #trip(phase: TimeoutPhase, ms: number): void {
    this.#fail(providerError('timeout', this.ctx, `${where(this.ctx)} timed out: no ${PHASE_TEXT[phase]} within ${ms} ms`, { phase }));
  }

  #fail(err: ProviderError): void {
    if (this.#done || this.#cause) return;
    this.#cause = err;
    this.#clear();
    this.onAbort?.(err);
  }

  /** Turns whatever the request or body threw into a ProviderError. */
  errorFor(err: unknown): ProviderError {
    if (this.#cause) return this.#cause;
    if (isProviderError(err)) return err;
    const code = codeOf(err);
    if (code === 'UND_ERR_CONNECT_TIMEOUT')
      return providerError('timeout', this.ctx, `${where(this.ctx)} timed out: no connection within the connect timeout`, {
        phase: 'connect',
        cause: err,
      });
    const reason = code ?? (err instanceof Error ? err.message : String(err));
    if (!this.#gotHeaders && (code === undefined || CONNECT_CODES.has(code))) {
      return providerError('connect', this.ctx, `could not reach ${where(this.ctx)}: ${reason}`, {
        cause: err,
        ...(code ? { network: code } : {}),
      });
    }
    return providerError('stream_broken', this.ctx, `the answer of ${where(this.ctx)} broke off: ${reason}`, { cause: err });
  }

  /** Aborts the upstream request if it is still going (the consumer left early), then cleans up. */
  abort(): void {
    if (!this.#done) this.#fail(providerError('aborted', this.ctx, `the call to ${where(this.ctx)} was abandoned`));
    this.finish();
  }

  /** Clears every timer and listener; idempotent. */
  finish(): void {
    this.#clear();
    this.#done = true;
  }

  #clear(): void {
    clearTimeout(this.#firstByte);
    this.#stopIdle();
    clearTimeout(this.#total);
    this.#external.removeEventListener('abort', this.#onAbort);
  }
}

const PHASE_TEXT: Record<TimeoutPhase, string> = {
  connect: 'connection',
  first_byte: 'first byte',
  idle: 'stream chunk',
  total: 'complete answer',
};
