/**
 * One thread lane's worker threads: a Piscina pool plus, per thread, the MessageChannel that its
 * worker opened at start (progress, logs, AI calls, aborts and the resource close handshake).
 */
import { fileURLToPath } from 'node:url';
import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { waitAtMost } from '../util/async.js';
import { AbortError, invalidWork, type SerializedError, type TasklaneError, workError } from '../errors.js';
import type { AiCallOptions, AiClient, ChatRequest, EmbeddingRequest } from '../ai/types.js';
import { HELLO, type Hello, type MainToWorker, type TaskEnvelope, type TaskOutcome, type WorkerToMain } from './protocol.js';
import { serializeTaskError } from './task-error.js';
import { chargedTo } from './loop-context.js';
import { LANE_WORKER_DATA } from './thread-guard.js';
import type { ThreadHost } from './types.js';

export interface ThreadPoolOptions {
  lane: string;
  threads: number;
  maxOldGenerationSizeMb?: number;
  /** The runtime's AI client, looked up at call time. */
  ai(): AiClient;
  /** Where a host callback that throws is reported (it must never unwind a port handler). */
  reportError(err: unknown, what: string): void;
  /** Logs a task's ctx.log when it has no host.log. */
  log(msg: string, data: Record<string, unknown> | undefined, context: Record<string, unknown> | undefined): void;
}

interface ThreadRecord {
  port: MessagePort;
  syncFlag: Int32Array;
  closed?: () => void;
}

interface TaskRecord {
  host?: ThreadHost;
  context?: Record<string, unknown>;
  /** The task's abort signal on this side (for AI calls), made on demand. */
  signal(): AbortSignal;
  received: number;
  /** Resolves once `received` reaches the count the worker reported. */
  drained?: { count: number; resolve(): void };
  /** AI calls in flight (made on the first one). */
  calls?: Map<number, AbortController>;
  /** Parent of the task's AI calls (its lane span). */
  traceparent?: string;
  /** Set once aborted with a grace period; replayed to threads that start later. */
  abort?: MainToWorker & { t: 'abort' };
}

/** Where the worker entry is: beside this file, as .ts under a TypeScript loader (tests) or .js once built. */
function workerEntry(): { filename: string } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    return { filename: fileURLToPath(new URL('./ts-worker.cjs', here)) };
  }
  return { filename: fileURLToPath(new URL('./worker-entry.js', here)) };
}

export class ThreadPool {
  readonly #opts: ThreadPoolOptions;
  readonly #piscina: Piscina;
  readonly #threads = new Map<number, ThreadRecord>();
  readonly #tasks = new Map<number, TaskRecord>();
  #closing = false;

  constructor(opts: ThreadPoolOptions) {
    this.#opts = opts;
    const entry = workerEntry();
    this.#piscina = new Piscina({
      filename: entry.filename,
      minThreads: 0,
      maxThreads: opts.threads,
      // Threads live until the lane closes, so that their resources are closed by the handshake
      // below and not cut off by an idle termination.
      idleTimeout: Infinity,
      // The lane keeps its own queue (queued timeouts, stats, LaneFullError); Piscina only ever
      // holds what is on its way to a thread.
      maxQueue: Infinity,
      // 'async' keeps an idle worker's event loop turning (resources with sockets and timers, the
      // close handshake); 'sync' would park it in Atomics.wait.
      atomics: 'async',
      // The lane's name, for the refusal of a task module that starts a runtime (thread-guard.ts).
      workerData: { [LANE_WORKER_DATA]: opts.lane },
      ...(opts.maxOldGenerationSizeMb ? { resourceLimits: { maxOldGenerationSizeMb: opts.maxOldGenerationSizeMb } } : {}),
    });
    this.#piscina.on('message', (msg: unknown) => {
      if (typeof msg === 'object' && msg !== null && (msg as Hello)[HELLO] === true) this.#addThread(msg as Hello);
    });
    // Errors of a worker without a task (it crashed between tasks): report, the pool replaces it.
    this.#piscina.on('error', (err: unknown) => this.#opts.reportError(err, `lane "${opts.lane}": a worker thread failed between tasks`));
  }

  get threadCount(): number {
    return this.#piscina.threads.length;
  }

  /**
   * Runs one envelope on a thread. `kill` terminates the thread running it (Piscina's abort);
   * the promise then rejects with Piscina's error, which the lane replaces with its reason.
   */
  run(
    env: TaskEnvelope,
    opts: { host?: ThreadHost; context?: Record<string, unknown>; signal(): AbortSignal; kill: Kill; traceparent?: string },
  ): Promise<TaskOutcome> {
    const record: TaskRecord = { host: opts.host, context: opts.context, signal: opts.signal, received: 0 };
    if (opts.traceparent) record.traceparent = opts.traceparent;
    this.#tasks.set(env.id, record);
    // Plain promise chaining, not async/await: this is the per-task hot path.
    return this.#piscina.run(env, { signal: opts.kill as unknown as AbortSignal }).then(
      (outcome: TaskOutcome) => {
        // Progress and logs travel on the thread's own port, the result on Piscina's: wait for
        // the last ones so that the caller never sees progress after the result.
        if (record.received >= outcome.sent) {
          this.#done(env.id, record);
          return outcome;
        }
        return new Promise<TaskOutcome>((resolve) => {
          record.drained = {
            count: outcome.sent,
            resolve: () => {
              this.#done(env.id, record);
              resolve(outcome);
            },
          };
        });
      },
      (err: unknown) => {
        this.#done(env.id, record);
        throw opts.kill.aborted ? err : this.#failure(err);
      },
    );
  }

  #done(id: number, record: TaskRecord): void {
    this.#tasks.delete(id);
    if (record.calls) for (const c of record.calls.values()) c.abort();
  }

  /** What a Piscina rejection means when we did not kill the thread ourselves. */
  #failure(err: unknown): TasklaneError {
    if (err instanceof Error && err.name === 'DataCloneError') {
      return invalidWork(`lane "${this.#opts.lane}": the input cannot be sent to a thread (${err.message})`, { cause: err });
    }
    const oom = (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
    return workError(
      'TL_ERR_LANE_THREAD_CRASHED',
      `lane "${this.#opts.lane}": the thread running the task ${oom ? 'ran out of memory' : 'crashed'}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err, details: { lane: this.#opts.lane, reason: oom ? 'out-of-memory' : 'crash' } },
    );
  }

  /** Asks every thread of the lane to abort a task's ctx.signal (only the one running it knows it). */
  abort(id: number, reason: SerializedError): void {
    const msg = { t: 'abort', id, reason } as const;
    const task = this.#tasks.get(id);
    if (task) task.abort = msg;
    for (const thread of this.#threads.values()) thread.port.postMessage(msg);
  }

  /**
   * Closes every thread's resources (bounded by `ms`), then closes the pool; destroy() runs in
   * finally so that every thread is gone even when close() fails or times out.
   */
  async close(ms: number): Promise<void> {
    const started = performance.now();
    const left = () => Math.max(0, ms - (performance.now() - started));
    try {
      const acks = [...this.#threads.values()].map(
        (thread) =>
          new Promise<void>((resolve) => {
            thread.closed = resolve;
            thread.port.once('close', resolve);
            thread.port.postMessage({ t: 'close' } satisfies MainToWorker);
          }),
      );
      await waitAtMost(Promise.all(acks), left() * 0.5);
      await waitAtMost(this.#piscina.close({ force: true }), left() * 0.5);
    } finally {
      await waitAtMost(this.#piscina.destroy(), left());
      this.#closing = true;
      // A port is still listed as an active resource until its 'close' event: wait for it, so
      // that close() resolving means nothing of the lane is left.
      const ports = [...this.#threads.values()].map((t) => t.port);
      this.#threads.clear();
      await waitAtMost(Promise.all(ports.map(closePort)), Math.max(left(), 200));
    }
  }

  #addThread(hello: Hello): void {
    // A thread whose hello arrives after close has nothing to do: drop its port at once.
    if (this.#closing) return void hello.port.close();
    const thread: ThreadRecord = { port: hello.port, syncFlag: hello.syncFlag };
    this.#threads.set(hello.threadId, thread);
    hello.port.unref();
    hello.port.on('message', (msg: WorkerToMain) => this.#onMessage(thread, msg));
    hello.port.on('close', () => {
      if (this.#threads.get(hello.threadId) === thread) this.#threads.delete(hello.threadId);
    });
    // A task aborted before this thread existed may be the one it is about to run.
    for (const task of this.#tasks.values()) if (task.abort) hello.port.postMessage(task.abort);
  }

  #onMessage(thread: ThreadRecord, msg: WorkerToMain): void {
    if (msg.t === 'closed') {
      if (msg.failures.length)
        this.#opts.reportError(
          new Error(msg.failures.map((f) => `${f.name}: ${f.error}`).join('; ')),
          `lane "${this.#opts.lane}": closing thread resources failed`,
        );
      thread.closed?.();
      return;
    }
    const task = this.#tasks.get(msg.id);
    if (!task) {
      // The run already settled (aborted); a blocked generateSync still needs its answer.
      if (msg.t === 'ai' && msg.sync)
        this.#answer(thread, msg.call, true, { ok: false, error: new AbortError('the task was stopped').toJSON() });
      return;
    }
    task.received++;
    switch (msg.t) {
      case 'progress':
        this.#callHost(() => task.host?.progress?.(msg.data), 'progress');
        break;
      case 'log':
        if (task.host?.log) this.#callHost(() => task.host!.log!(msg.msg, msg.data), 'log');
        else this.#opts.log(msg.msg, msg.data, task.context);
        break;
      case 'ai':
        this.#chat(thread, task, msg);
        break;
      case 'ai-abort':
        task.calls?.get(msg.call)?.abort();
        break;
    }
    if (task.drained && task.received >= task.drained.count) task.drained.resolve();
  }

  #chat(thread: ThreadRecord, task: TaskRecord, msg: WorkerToMain & { t: 'ai' }): void {
    const controller = new AbortController();
    (task.calls ??= new Map()).set(msg.call, controller);
    const signal = AbortSignal.any([controller.signal, task.signal()]);
    Promise.resolve()
      .then((): Promise<unknown> => {
        const opts: AiCallOptions = {
          ...(msg.opts as AiCallOptions | undefined),
          ...chargedTo(task.context, msg.opts as AiCallOptions | undefined),
          signal,
        };
        if (task.traceparent) opts.traceparent = task.traceparent;
        const ai = task.host?.ai ?? this.#opts.ai();
        return msg.op === 'embed' ? ai.embed(msg.req as EmbeddingRequest, opts) : ai.chat(msg.req as ChatRequest, opts);
      })
      .then(
        (value) => this.#answer(thread, msg.call, msg.sync, { ok: true, value }),
        (err) => this.#answer(thread, msg.call, msg.sync, { ok: false, error: serializeTaskError(err) }),
      )
      .finally(() => task.calls!.delete(msg.call));
  }

  #answer(
    thread: ThreadRecord,
    call: number,
    sync: boolean | undefined,
    result: { ok: true; value: unknown } | { ok: false; error: SerializedError },
  ): void {
    try {
      thread.port.postMessage({ t: 'ai-result', call, ...result } as MainToWorker);
    } catch (err) {
      thread.port.postMessage({ t: 'ai-result', call, ok: false, error: serializeTaskError(err) } satisfies MainToWorker);
    }
    if (sync) {
      Atomics.store(thread.syncFlag, 0, 1);
      Atomics.notify(thread.syncFlag, 0);
    }
  }

  #callHost(fn: () => unknown, what: string): void {
    try {
      fn();
    } catch (err) {
      this.#opts.reportError(err, `lane "${this.#opts.lane}": host.${what} threw`);
    }
  }
}

/**
 * What Piscina listens to to terminate a task's thread: the smallest object it accepts as a
 * signal. A full AbortController per task cost more than the rest of a lane's bookkeeping.
 */
export class Kill {
  aborted = false;
  reason: unknown;
  #listener?: () => void;

  addEventListener(_type: 'abort', listener: () => void): void {
    this.#listener = listener;
  }

  removeEventListener(): void {
    this.#listener = undefined;
  }

  fire(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.#listener?.();
  }
}

/** Waits for `promise` at most `ms`; never rejects (closing goes on regardless). */
function closePort(port: MessagePort): Promise<void> {
  return new Promise((resolve) => {
    port.once('close', () => resolve());
    port.close();
  });
}
