import type { EnqueueOptions, JobEvent, JobRecord, ListQuery, ScheduleInfo } from '../jobs/types.js';
import { request, type Transport } from './http.js';
import { jobEvents, type EventsOptions } from './sse.js';
import { defaultSocketFactory, watchJobs, type SocketFactory, type WatchOptions } from './watch.js';

export interface TasklaneClientOptions {
  /** The server, e.g. `http://127.0.0.1:8080`. Default: that. */
  url?: string;
  /** A client key (server.apiKeys); sent as `Authorization: Bearer`. */
  apiKey?: string;
  /** A fetch implementation; default the global one. */
  fetch?: typeof fetch;
  /** A WebSocket constructor; default the global one, else the `ws` package (Node 20). */
  WebSocket?: SocketFactory;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** The server records the owner from the client key, so a client cannot name one. */
export interface SubmitOptions extends Omit<EnqueueOptions, 'owner'>, CallOptions {}

export interface StreamToken {
  token: string;
  /** Epoch ms. */
  expiresAt: number;
  scopes: string[];
  jobs?: string[];
}

/** The jobs API of a tasklane server. */
export class JobsClient {
  readonly #t: Transport;
  readonly #socket: () => Promise<SocketFactory>;

  constructor(t: Transport, socket: () => Promise<SocketFactory>) {
    this.#t = t;
    this.#socket = socket;
  }

  /** Enqueues a job. With an idempotencyKey already used, resolves with the job made then. */
  submit(task: string, input: unknown, options: SubmitOptions = {}): Promise<JobRecord> {
    const { signal, ...opts } = options;
    return request<JobRecord>(this.#t, 'POST', '/v1/jobs', { task, input, ...opts }, signal);
  }

  get(id: string, options: CallOptions = {}): Promise<JobRecord> {
    return request<JobRecord>(this.#t, 'GET', `/v1/jobs/${encodeURIComponent(id)}`, undefined, options.signal);
  }

  /** Newest first; pass `next` back as `cursor` for the following page (null on the last). */
  list(query: Omit<ListQuery, 'owner'> = {}, options: CallOptions = {}): Promise<{ jobs: JobRecord[]; next: string | null }> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return request(this.#t, 'GET', `/v1/jobs${qs ? `?${qs}` : ''}`, undefined, options.signal);
  }

  cancel(id: string, options: CallOptions = {}): Promise<JobRecord> {
    return request<JobRecord>(this.#t, 'POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`, {}, options.signal);
  }

  /** Puts a dead or cancelled job back in the queue. */
  retry(id: string, options: CallOptions = {}): Promise<JobRecord> {
    return request<JobRecord>(this.#t, 'POST', `/v1/jobs/${encodeURIComponent(id)}/retry`, {}, options.signal);
  }

  /** Sends a signal to a job (`ctx.waitForSignal(name)` in its task); the payload is any JSON. A finished job is a 409. */
  signal(id: string, name: string, payload: unknown = null, options: CallOptions = {}): Promise<JobRecord> {
    return request<JobRecord>(
      this.#t,
      'POST',
      `/v1/jobs/${encodeURIComponent(id)}/signals/${encodeURIComponent(name)}`,
      payload === undefined ? null : payload,
      options.signal,
    );
  }

  /** One job's events (SSE), resuming after a dropped connection with no duplicate and no hole; ends after the terminal event. */
  events(id: string, options: EventsOptions = {}): AsyncIterable<JobEvent> {
    return jobEvents(this.#t, id, options);
  }

  /** Several jobs' events over one WebSocket, reconnecting and resubscribing from the last seq; ends when every job is over. */
  watch(ids: string[], options: WatchOptions = {}): AsyncIterable<JobEvent> {
    return watchJobs(this.#t, ids, options, this.#socket);
  }
}

/**
 * A typed client for a tasklane server, for Node 20 and browsers (fetch, streaming fetch for SSE,
 * WebSocket). Every failure is a TasklaneClientError with `code`, `status` and `message`.
 */
export class TasklaneClient {
  readonly jobs: JobsClient;
  readonly #t: Transport;

  constructor(options: TasklaneClientOptions = {}) {
    const f = options.fetch ?? globalThis.fetch;
    this.#t = {
      url: (options.url ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
      apiKey: options.apiKey,
      // Bound so a browser's window.fetch is not called on another `this`.
      fetch: f.bind(globalThis),
    };
    const ws = options.WebSocket;
    this.jobs = new JobsClient(this.#t, ws ? async () => ws : defaultSocketFactory);
  }

  get url(): string {
    return this.#t.url;
  }

  /** GET /v1/schedules (admin scope): every schedule with its next tick and latest run. */
  schedules(options: CallOptions = {}): Promise<{ schedules: ScheduleInfo[] }> {
    return request(this.#t, 'GET', '/v1/schedules', undefined, options.signal);
  }

  /** A short-lived token for `?token=` on the SSE and WebSocket routes (for an EventSource or a WebSocket you open yourself). */
  createToken(options: { ttlMs?: number; jobs?: string[] } & CallOptions = {}): Promise<StreamToken> {
    const { signal, ...body } = options;
    return request<StreamToken>(this.#t, 'POST', '/v1/tokens', body, signal);
  }
}
