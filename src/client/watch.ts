import type { JobEvent, JobRecord } from '../jobs/types.js';
import { TasklaneClientError, abortError } from './errors.js';
import { backoffMs, request, type Transport } from './http.js';
import { isTerminal } from './terminal.js';

/** The part of the WebSocket API the client uses (the browser's, Node 22's, or the `ws` package's). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type SocketFactory = new (url: string) => SocketLike;

export interface WatchOptions {
  /** Resume point: one seq for every job, or one per job id; default 0 (every event). */
  fromSeq?: number | Record<string, number>;
  signal?: AbortSignal;
  /** Failed connections in a row before giving up; default 20. */
  maxReconnects?: number;
  /** Longest wait between two reconnects, in ms; default 5000. */
  maxBackoffMs?: number;
}

type ServerMessage =
  | { type: 'event'; event: JobEvent }
  | { type: 'subscribed'; jobId: string }
  | { type: 'unsubscribed'; jobId: string; reason?: string }
  | { type: 'error'; jobId?: string; error: { code: string; message: string; retryable?: boolean } };

/**
 * Many jobs' events over one WebSocket, in arrival order, until every job has sent its terminal
 * event. After a dropped connection it reconnects (a fresh token when a key is set, since browsers
 * cannot send headers) and resubscribes each job from the last seq it yielded.
 */
export async function* watchJobs(
  t: Transport,
  ids: string[],
  options: WatchOptions,
  socketFactory: () => Promise<SocketFactory>,
): AsyncGenerator<JobEvent, void, undefined> {
  const { signal } = options;
  const maxReconnects = options.maxReconnects ?? 20;
  const last = new Map<string, number>();
  for (const id of new Set(ids)) last.set(id, typeof options.fromSeq === 'number' ? options.fromSeq : (options.fromSeq?.[id] ?? 0));
  const done = new Set<string>();
  const queue: JobEvent[] = [];
  let fatal: TasklaneClientError | undefined;
  let socket: SocketLike | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const fail = (err: TasklaneClientError): void => {
    fatal ??= err;
    notify();
  };
  const onAbort = (): void => fail(abortError(signal));
  signal?.addEventListener('abort', onAbort, { once: true });

  const Socket = await socketFactory();
  const subscribe = (jobId: string): void => {
    if (socket?.readyState === 1) socket.send(JSON.stringify({ op: 'subscribe', jobId, fromSeq: last.get(jobId) }));
  };
  const retryLater = (why: TasklaneClientError): void => {
    if (stopped || fatal) return;
    if (++failures > maxReconnects)
      return fail(
        new TasklaneClientError(why.code, `gave up watching after ${maxReconnects} reconnects: ${why.message}`, {
          status: why.status,
          cause: why,
        }),
      );
    timer = setTimeout(() => void connect(), backoffMs(failures, options.maxBackoffMs ?? 5_000));
  };

  const onMessage = async (msg: ServerMessage): Promise<void> => {
    if (msg.type === 'event') {
      const ev = msg.event;
      const seen = last.get(ev.jobId);
      if (seen === undefined || done.has(ev.jobId) || ev.seq <= seen) return;
      if (ev.seq !== seen + 1) return subscribe(ev.jobId);
      last.set(ev.jobId, ev.seq);
      failures = 0;
      queue.push(ev);
      if (isTerminal(ev.type)) done.add(ev.jobId);
      return notify();
    }
    if (msg.type === 'error') {
      const err = new TasklaneClientError(msg.error.code, msg.error.message, { retryable: msg.error.retryable === true });
      if (!err.retryable) return fail(err);
      socket?.close(4000, 'retrying');
      return;
    }
    if (msg.type === 'unsubscribed' && msg.reason === 'ended' && !done.has(msg.jobId)) {
      // The server ended it without a terminal event past our seq: the job was already over.
      const job = await request<JobRecord>(t, 'GET', `/v1/jobs/${encodeURIComponent(msg.jobId)}`, undefined, signal);
      if (['succeeded', 'dead', 'cancelled'].includes(job.state) && job.lastSeq <= (last.get(msg.jobId) ?? 0)) {
        done.add(msg.jobId);
        notify();
      } else {
        subscribe(msg.jobId);
      }
    }
  };

  async function connect(): Promise<void> {
    timer = undefined;
    if (stopped || fatal) return;
    const pending = [...last.keys()].filter((id) => !done.has(id));
    let url = `${t.url.replace(/^http/, 'ws')}/v1/ws`;
    try {
      if (t.apiKey) {
        const minted = await request<{ token: string }>(t, 'POST', '/v1/tokens', { jobs: pending }, signal);
        url += `?token=${encodeURIComponent(minted.token)}`;
      }
    } catch (err) {
      const e = err as TasklaneClientError;
      return e.retryable && e.code !== 'TL_ERR_ABORTED' ? retryLater(e) : fail(e);
    }
    if (stopped || fatal) return;
    const ws = new Socket(url);
    socket = ws;
    ws.onopen = () => {
      for (const id of pending) subscribe(id);
    };
    ws.onmessage = (ev) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(String(ev.data)) as ServerMessage;
      } catch (err) {
        return fail(
          new TasklaneClientError('TL_ERR_CLIENT_PROTOCOL', `a WebSocket message that is not JSON: ${String(ev.data).slice(0, 200)}`, {
            cause: err,
          }),
        );
      }
      onMessage(msg).catch((err: TasklaneClientError) => (err.retryable ? ws.close(4000, 'retrying') : fail(err)));
    };
    ws.onerror = () => {
      // A close event always follows; the reconnect happens there.
    };
    ws.onclose = (ev) => {
      if (socket === ws) socket = undefined;
      if (stopped || fatal || done.size === last.size) return notify();
      retryLater(
        new TasklaneClientError(
          'TL_ERR_CLIENT_NETWORK',
          `the WebSocket to ${t.url} closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`,
        ),
      );
      notify();
    };
  }

  try {
    await connect();
    for (;;) {
      if (queue.length > 0) {
        yield* queue.splice(0);
        continue;
      }
      if (fatal) throw fatal;
      if (done.size === last.size) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stopped = true;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    socket?.close(1000, 'done');
  }
}

/** The browser's (or Node 22's) WebSocket, else the `ws` package on Node 20. */
export async function defaultSocketFactory(): Promise<SocketFactory> {
  const global = (globalThis as { WebSocket?: SocketFactory }).WebSocket;
  if (typeof global === 'function') return global;
  // A variable specifier keeps browser bundlers from pulling the Node-only package in.
  const name = 'ws';
  const mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ name)) as { WebSocket?: SocketFactory; default?: SocketFactory };
  const ctor = mod.WebSocket ?? mod.default;
  if (!ctor) throw new TasklaneClientError('TL_ERR_CLIENT_PROTOCOL', 'no WebSocket implementation: pass one as the WebSocket option');
  return ctor;
}
