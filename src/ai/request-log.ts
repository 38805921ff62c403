import type { AttemptRecord } from './dispatch-types.js';
import type { StreamResult } from './stream-result.js';
import type { AiCallOptions, AiMeta, ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult, ServedBy, Usage } from './types.js';

/**
 * The last requests the orchestrator answered, for the dashboard's AI log: who served each one,
 * how many attempts it took and why the failed ones failed, cache, latency, tokens. Never a key
 * (only its index) and never the messages. A fixed-size ring: the oldest entry is overwritten.
 */
export interface AiRequestEntry extends Partial<ServedBy> {
  /** Grows by one per request, from 1. */
  seq: number;
  /** Epoch ms when the request came in. */
  at: number;
  /** The model alias (route) the caller asked for. */
  route: string;
  /** `chat` (whole or streamed) or `embeddings`. */
  kind: 'chat' | 'embeddings';
  stream: boolean;
  /** `streaming` while a stream that started is still being read. */
  outcome: 'ok' | 'error' | 'streaming';
  /** Upstream attempts made (0 for a cache hit). */
  attempts: number;
  /**
   * The failed attempts, in order, with their reasons: every one when the request failed, and
   * those before the answer when it succeeded after failing over (`meta.failedAttempts`).
   */
  failures: Array<Pick<AttemptRecord, 'provider' | 'model' | 'keyIndex' | 'status' | 'kind' | 'code' | 'ms'>>;
  cache?: AiMeta['cache'];
  /** To the whole answer; for a stream, to its first chunk. */
  latencyMs: number;
  /** A stream's whole duration, once it ended. */
  durationMs?: number;
  /** Time spent waiting out a short cooldown before the call that answered (not an attempt). */
  waitedMs?: number;
  tokens?: { prompt: number; completion: number; total: number };
  error?: { code: string; message: string; status?: number };
}

/** The calls the log taps: the orchestrator's entry points (`stream()` goes through `openStream`). */
export interface TappableAi {
  chat(request: ChatRequest, options?: AiCallOptions): Promise<ChatResult>;
  openStream(request: ChatRequest, options?: AiCallOptions): Promise<StreamResult>;
  embed?(request: EmbeddingRequest, options?: AiCallOptions): Promise<EmbeddingResult>;
}

export const DEFAULT_REQUEST_LOG_SIZE = 200;

/** A bounded ring of entries, newest last. */
export class AiRequestLog {
  readonly capacity: number;
  readonly #ring: AiRequestEntry[] = [];
  #next = 0;
  #seq = 0;

  constructor(capacity = DEFAULT_REQUEST_LOG_SIZE) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`AiRequestLog capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  /** Requests recorded since the log was made (also those no longer held). */
  get total(): number {
    return this.#seq;
  }

  /** Stores an entry (seq is assigned here) and returns it, so a stream can finish it later. */
  add(entry: Omit<AiRequestEntry, 'seq'>): AiRequestEntry {
    const full = { seq: ++this.#seq, ...entry } as AiRequestEntry;
    if (this.#ring.length < this.capacity) this.#ring.push(full);
    else this.#ring[this.#next] = full;
    this.#next = (this.#next + 1) % this.capacity;
    return full;
  }

  /** Newest first, at most `limit`. */
  list(limit = this.capacity): AiRequestEntry[] {
    const n = this.#ring.length;
    const out: AiRequestEntry[] = [];
    // #next is where the oldest entry sits once the ring is full (and the end before that).
    for (let i = 1; i <= Math.min(limit, n); i++) out.push(this.#ring[(this.#next - i + n) % n]!);
    return out;
  }
}

const TAPPED = Symbol.for('tasklane.ai.requestLog');

/**
 * The request log of an orchestrator, tapping its entry points on first use. The log hangs off the
 * orchestrator itself, so every server built on one runtime shares it and a call is recorded once.
 * The wrappers only observe: arguments, answers and errors pass through untouched.
 */
export function requestLogOf(ai: TappableAi, capacity?: number): AiRequestLog {
  const holder = ai as TappableAi & { [TAPPED]?: AiRequestLog };
  const existing = holder[TAPPED];
  if (existing) return existing;
  const log = new AiRequestLog(capacity);
  Object.defineProperty(holder, TAPPED, { value: log, enumerable: false });
  const chat = ai.chat.bind(ai);
  const openStream = ai.openStream.bind(ai);
  const embed = ai.embed?.bind(ai);

  ai.chat = async (request, options) => {
    const at = Date.now();
    const t0 = performance.now();
    try {
      const res = await chat(request, options);
      log.add({ ...served(request, at, false, res.meta), outcome: 'ok' });
      return res;
    } catch (err) {
      log.add(failed(request, at, false, t0, err));
      throw err;
    }
  };

  if (embed) {
    ai.embed = async (request, options) => {
      const at = Date.now();
      const t0 = performance.now();
      try {
        const res = await embed(request, options);
        log.add({ ...served(request, at, false, res.meta), kind: 'embeddings', outcome: 'ok' });
        return res;
      } catch (err) {
        log.add({ ...failed(request, at, false, t0, err), kind: 'embeddings' });
        throw err;
      }
    };
  }

  ai.openStream = async (request, options) => {
    const at = Date.now();
    const t0 = performance.now();
    let res: StreamResult;
    try {
      res = await openStream(request, options);
    } catch (err) {
      log.add(failed(request, at, true, t0, err));
      throw err;
    }
    const entry = log.add({ ...served(request, at, true, res.meta), outcome: 'streaming' });
    const inner = res.chunks[Symbol.asyncIterator]();
    const end = (err?: unknown): void => {
      if (entry.outcome !== 'streaming') return;
      entry.durationMs = ms(t0);
      if (res.meta.usage) entry.tokens = tokens(res.meta.usage);
      if (err === undefined) entry.outcome = 'ok';
      else Object.assign(entry, { outcome: 'error', error: errorView(err) });
    };
    const chunks: AsyncIterableIterator<StreamResult['chunks'] extends AsyncIterable<infer C> ? C : never> = {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        try {
          const r = await inner.next();
          if (r.done) end();
          return r;
        } catch (err) {
          end(err);
          throw err;
        }
      },
      async return() {
        // The reader left early (the client went away): the entry keeps what it saw.
        end();
        return (await inner.return?.()) ?? { done: true, value: undefined };
      },
    };
    return { meta: res.meta, chunks };
  };
  return log;
}

function served(request: { model?: unknown }, at: number, stream: boolean, meta: AiMeta): Omit<AiRequestEntry, 'seq' | 'outcome'> {
  const entry: Omit<AiRequestEntry, 'seq' | 'outcome'> = {
    at,
    route: routeOf(request),
    kind: 'chat',
    stream,
    provider: meta.provider,
    model: meta.model,
    keyIndex: meta.keyIndex,
    attempts: meta.attempts,
    failures: (meta.failedAttempts ?? []).map(attemptView),
    cache: meta.cache,
    latencyMs: meta.latencyMs,
  };
  if (meta.usage) entry.tokens = tokens(meta.usage);
  if (meta.waitedMs) entry.waitedMs = meta.waitedMs;
  return entry;
}

function failed(request: { model?: unknown }, at: number, stream: boolean, t0: number, err: unknown): Omit<AiRequestEntry, 'seq'> {
  const details = (err as { details?: { attempts?: unknown } } | undefined)?.details;
  const attempts = Array.isArray(details?.attempts) ? (details.attempts as AttemptRecord[]) : [];
  const failures = attempts.filter((a) => a && (a.code !== undefined || a.kind !== undefined)).map(attemptView);
  const last = attempts.at(-1);
  return {
    at,
    route: routeOf(request),
    kind: 'chat',
    stream,
    outcome: 'error',
    ...(last ? { provider: last.provider, model: last.model, keyIndex: last.keyIndex } : {}),
    attempts: attempts.length,
    failures,
    latencyMs: ms(t0),
    error: errorView(err),
  };
}

/** Copies field by field: nothing but what the dashboard shows leaves the orchestrator. */
function attemptView(a: AttemptRecord): AiRequestEntry['failures'][number] {
  const v: AiRequestEntry['failures'][number] = { provider: a.provider, model: a.model, keyIndex: a.keyIndex, ms: a.ms };
  if (a.status !== undefined) v.status = a.status;
  if (a.kind !== undefined) v.kind = a.kind;
  if (a.code !== undefined) v.code = a.code;
  return v;
}

function errorView(err: unknown): NonNullable<AiRequestEntry['error']> {
  const e = err as { code?: unknown; message?: unknown; httpStatus?: unknown } | undefined;
  const view: NonNullable<AiRequestEntry['error']> = {
    code: typeof e?.code === 'string' ? e.code : 'TL_ERR_INTERNAL',
    message: clip(typeof e?.message === 'string' ? e.message : String(err), MAX_MESSAGE),
  };
  if (typeof e?.httpStatus === 'number') view.status = e.httpStatus;
  return view;
}

/** What an entry keeps of caller-chosen text: a route name or an error message may be as long as a request body. */
const MAX_ROUTE = 200;
const MAX_MESSAGE = 500;

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function routeOf(request: { model?: unknown }): string {
  return typeof request?.model === 'string' ? clip(request.model, MAX_ROUTE) : '';
}

function tokens(u: Partial<Usage>): NonNullable<AiRequestEntry['tokens']> {
  return {
    prompt: u.prompt_tokens ?? 0,
    completion: u.completion_tokens ?? 0,
    total: u.total_tokens ?? (u.prompt_tokens ?? 0) + (u.completion_tokens ?? 0),
  };
}

function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 100) / 100;
}
