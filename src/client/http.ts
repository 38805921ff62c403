import { TasklaneClientError, abortError, errorFromResponse } from './errors.js';

export interface Transport {
  /** Base URL without a trailing slash. */
  url: string;
  apiKey?: string;
  fetch: typeof fetch;
}

export function headers(t: Transport, extra: Record<string, string> = {}): Record<string, string> {
  return t.apiKey ? { authorization: `Bearer ${t.apiKey}`, ...extra } : extra;
}

/** Fetch with tasklane's error mapping: unreachable → TL_ERR_CLIENT_NETWORK, abort → TL_ERR_ABORTED. */
export async function send(t: Transport, path: string, init: RequestInit): Promise<Response> {
  try {
    return await t.fetch(`${t.url}${path}`, init);
  } catch (err) {
    if (init.signal?.aborted) throw abortError(init.signal ?? undefined);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new TasklaneClientError('TL_ERR_CLIENT_NETWORK', `cannot reach tasklane at ${t.url} (${why})`, {
      status: 0,
      retryable: true,
      cause: err,
    });
  }
}

/** A JSON request; resolves with the parsed body of a 2xx answer. */
export async function request<T>(t: Transport, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const init: RequestInit = { method, headers: headers(t, body === undefined ? {} : { 'content-type': 'application/json' }), signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await send(t, path, init);
  if (!res.ok) throw await errorFromResponse(res);
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new TasklaneClientError(
      'TL_ERR_CLIENT_PROTOCOL',
      `${method} ${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`,
      { status: res.status, cause: err },
    );
  }
}

/** Reconnect delays: 250 ms doubling to maxMs, with ±20 % jitter. */
export function backoffMs(failures: number, maxMs: number): number {
  const base = Math.min(maxMs, 250 * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
