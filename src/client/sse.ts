import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { JobEvent } from '../jobs/types.js';
import { TasklaneClientError, abortError, errorFromResponse } from './errors.js';
import { backoffMs, headers, send, sleep, type Transport } from './http.js';
import { isTerminal } from './terminal.js';

export interface EventsOptions {
  /** Events with seq > fromSeq; default 0 (all of them). */
  fromSeq?: number;
  signal?: AbortSignal;
  /** Failed connection attempts in a row before giving up; default 20. */
  maxReconnects?: number;
  /** Longest wait between two reconnects, in ms; default 5000. */
  maxBackoffMs?: number;
}

/**
 * One job's events over SSE (streaming fetch, so it sends the API key as a header in browsers
 * too). When the connection drops, or the server restarts, it reconnects with `Last-Event-ID` set
 * to the last seq it yielded: no duplicate, no hole. Ends after the terminal event.
 */
export async function* jobEvents(t: Transport, jobId: string, options: EventsOptions = {}): AsyncGenerator<JobEvent, void, undefined> {
  const { signal } = options;
  const maxReconnects = options.maxReconnects ?? 20;
  let last = options.fromSeq ?? 0;
  let failures = 0;
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let failure: TasklaneClientError | undefined;
    try {
      const res = await send(t, `/v1/jobs/${encodeURIComponent(jobId)}/events`, {
        method: 'GET',
        headers: headers(t, { accept: 'text/event-stream', 'last-event-id': String(last) }),
        signal: controller.signal,
      });
      if (!res.ok) {
        const err = await errorFromResponse(res);
        if (!err.retryable) throw err;
        failure = err;
      } else if (!res.body) {
        throw new TasklaneClientError('TL_ERR_CLIENT_PROTOCOL', 'the event stream answered without a body', { status: res.status });
      } else {
        for await (const message of readSse(res.body)) {
          if (message.event === 'error') {
            const e = parseJson<{ code?: string; message?: string; retryable?: boolean }>(message.data);
            const err = new TasklaneClientError(e.code ?? 'TL_ERR_CLIENT_PROTOCOL', e.message ?? 'the event stream failed', {
              status: 200,
              retryable: e.retryable === true,
            });
            if (!err.retryable) throw err;
            failure = err;
            break;
          }
          const event = parseJson<JobEvent>(message.data);
          if (typeof event.seq !== 'number')
            throw new TasklaneClientError('TL_ERR_CLIENT_PROTOCOL', `an event without a seq: ${message.data.slice(0, 200)}`);
          if (event.seq <= last) continue;
          // The server never skips one; if it ever did, ask again from where we are.
          if (event.seq !== last + 1) break;
          last = event.seq;
          failures = 0;
          yield event;
          if (isTerminal(event.type)) return;
        }
      }
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      if (!TasklaneClientError.isInstance(err)) {
        failure = new TasklaneClientError('TL_ERR_CLIENT_NETWORK', `the event stream of job ${jobId} broke (${(err as Error).message})`, {
          cause: err,
        });
      } else if (err.code === 'TL_ERR_CLIENT_NETWORK') {
        failure = err;
      } else {
        throw err;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      controller.abort();
    }
    // Ended before the terminal event (a drop, a restart): one more try. `failures` is reset by
    // every event, so only attempts in a row that bring nothing count toward the limit.
    failures++;
    if (failures > maxReconnects) {
      throw new TasklaneClientError(
        failure?.code ?? 'TL_ERR_CLIENT_NETWORK',
        `gave up on the events of job ${jobId} after ${maxReconnects} reconnects: ${failure?.message ?? 'the stream kept ending early'}`,
        {
          status: failure?.status ?? 0,
          cause: failure,
        },
      );
    }
    await sleep(backoffMs(failures, options.maxBackoffMs ?? 5_000), signal);
  }
}

/** Parses an SSE body (a stream of bytes) into messages. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<EventSourceMessage> {
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (m) => queue.push(m) });
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
      if (queue.length > 0) yield* queue.splice(0);
    }
  } finally {
    // cancel() rejects when the stream already failed; nothing is left to release then.
    await reader.cancel().catch(() => undefined);
  }
}

function parseJson<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new TasklaneClientError('TL_ERR_CLIENT_PROTOCOL', `an event that is not JSON: ${text.slice(0, 200)}`, { cause: err });
  }
}
