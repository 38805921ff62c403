/**
 * The entry of every lane worker thread (Piscina's `filename`). It runs task envelopes, gives the
 * task its WorkContext, and talks to the main thread over one MessageChannel opened at start.
 *
 * The state below is per thread: each worker has its own module instance, and this module does
 * nothing when imported on the main thread.
 */
import {
  MessageChannel,
  isMainThread,
  parentPort,
  receiveMessageOnPort,
  threadId,
  workerData,
  type MessagePort,
} from 'node:worker_threads';
import { AbortError, TasklaneError, internalError, jobsError } from '../errors.js';
import type { AiCallOptions, ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult } from '../ai/types.js';
import { ResourceScope } from '../resources/scope.js';
import { THREAD_DEFS, type ResourceDef } from '../resources/resource.js';
import { TASK_BY_NAME, importWork } from './module-ref.js';
import { LANE_WORKER_DATA, markLaneThread, type LaneThreadMark } from './thread-guard.js';
import { HELLO, type Hello, type MainToWorker, type TaskEnvelope, type TaskOutcome, type WorkerToMain } from './protocol.js';
import { rebuildError, serializeTaskError } from './task-error.js';
import type { WorkContext, WorkFn } from './types.js';

interface RunningTask {
  /** Made when the task first reads ctx.signal, or when an abort arrives. */
  controller?: AbortController;
  sent: number;
}

function abortTask(task: RunningTask, reason: unknown): void {
  task.controller ??= new AbortController();
  task.controller.abort(reason);
}

interface PendingCall {
  resolve(value: ChatResult): void;
  reject(err: unknown): void;
}

/** Aborts that reached this thread before their task did (they are broadcast to every thread of a lane). */
const EARLY_ABORTS_MAX = 256;

class ThreadState {
  readonly port: MessagePort;
  readonly syncFlag = new Int32Array(new SharedArrayBuffer(4));
  readonly tasks = new Map<number, RunningTask>();
  readonly earlyAborts = new Map<number, MainToWorker & { t: 'abort' }>();
  readonly calls = new Map<number, PendingCall>();
  readonly work = new Map<string, Promise<WorkFn>>();
  readonly resources = new ResourceScope((name) =>
    (globalThis as Record<symbol, Map<string, ResourceDef> | undefined>)[THREAD_DEFS]?.get(name),
  );
  nextCall = 1;
  readonly mark: LaneThreadMark;

  constructor(parent: MessagePort) {
    const lane = (workerData as Record<string, unknown> | undefined)?.[LANE_WORKER_DATA];
    this.mark = markLaneThread(typeof lane === 'string' ? lane : '?');
    // A refusal the task module left unhandled (createRuntime().then(...) at its top level) has
    // already failed the attempt; swallowed here on purpose so it does not also crash the thread.
    process.on('unhandledRejection', (reason) => {
      if (TasklaneError.isInstance(reason) && reason.code === 'TL_ERR_TASK_MODULE_SIDE_EFFECT') return;
      throw reason;
    });
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    // The thread's lifetime is Piscina's business; this port must not hold it open.
    this.port.unref();
    this.port.on('message', (msg: MainToWorker) => this.dispatch(msg));
    const hello: Hello = { [HELLO]: true, threadId, port: port2, syncFlag: this.syncFlag };
    parent.postMessage(hello, [port2]);
  }

  post(task: RunningTask | undefined, msg: WorkerToMain): void {
    this.port.postMessage(msg);
    if (task) task.sent++;
  }

  dispatch(msg: MainToWorker): void {
    switch (msg.t) {
      case 'abort': {
        const task = this.tasks.get(msg.id);
        if (task) abortTask(task, rebuildError(msg.reason));
        else {
          this.earlyAborts.set(msg.id, msg);
          if (this.earlyAborts.size > EARLY_ABORTS_MAX) this.earlyAborts.delete(this.earlyAborts.keys().next().value!);
        }
        break;
      }
      case 'ai-result': {
        const call = this.calls.get(msg.call);
        if (!call) break;
        this.calls.delete(msg.call);
        if (msg.ok) call.resolve(msg.value as ChatResult);
        else call.reject(rebuildError(msg.error));
        break;
      }
      case 'close':
        void this.resources.close().then((failures) => this.port.postMessage({ t: 'closed', threadId, failures } satisfies WorkerToMain));
        break;
    }
  }

  loadWork(url: string, exportName = 'default'): Promise<WorkFn> {
    const key = exportName === 'default' ? url : `${url}#${exportName}`;
    let work = this.work.get(key);
    if (!work) {
      work = this.#import(url, exportName);
      this.work.set(key, work);
      work.catch(() => this.work.delete(key));
    }
    return work;
  }

  /**
   * Imports a task module with the thread marked as loading it, so that a createRuntime() or
   * listen() at its top level is refused with the lane and task named; a refusal the module
   * swallowed (an un-awaited promise, a try/catch) still fails the load.
   */
  async #import(url: string, exportName: string): Promise<WorkFn> {
    const mark = this.mark;
    mark.loading = { module: url, ...(exportName.startsWith(TASK_BY_NAME) ? { task: exportName.slice(TASK_BY_NAME.length) } : {}) };
    mark.refused = undefined;
    try {
      const fn = await importWork(url, exportName);
      if (mark.refused) throw mark.refused;
      return fn;
    } catch (err) {
      throw mark.refused ?? err;
    } finally {
      mark.loading = undefined;
    }
  }

  async run(env: TaskEnvelope): Promise<TaskOutcome> {
    const task: RunningTask = { sent: 0 };
    this.tasks.set(env.id, task);
    const early = this.earlyAborts.size > 0 ? this.earlyAborts.get(env.id) : undefined;
    if (early) {
      this.earlyAborts.delete(env.id);
      abortTask(task, rebuildError(early.reason));
    }
    try {
      const fn = await this.loadWork(env.module, env.export);
      const value = await fn(env.input, this.context(env, task));
      return { ok: true, value, sent: task.sent };
    } catch (err) {
      return { ok: false, error: serializeTaskError(err), sent: task.sent };
    } finally {
      this.tasks.delete(env.id);
    }
  }

  context(env: TaskEnvelope, task: RunningTask): WorkContext {
    const id = env.id;
    return {
      ...env.context,
      ...(env.context?.jobId !== undefined ? NO_WORKFLOW_CALLS : {}),
      get signal() {
        task.controller ??= new AbortController();
        return task.controller.signal;
      },
      progress: (data: unknown) => this.post(task, { t: 'progress', id, data }),
      log: (msg: string, data?: Record<string, unknown>) => this.post(task, { t: 'log', id, msg, data }),
      resource: <T>(nameOrDef: string | ResourceDef<T>) => this.resources.get(nameOrDef as string | ResourceDef) as Promise<T>,
      ai: {
        chat: (req: ChatRequest, opts: AiCallOptions = {}) => this.chat(task, id, req, opts),
        embed: (req: EmbeddingRequest, opts: AiCallOptions = {}) =>
          this.chat(task, id, req, opts, 'embed') as unknown as Promise<EmbeddingResult>,
        generateSync: (req: ChatRequest) => this.generateSync(task, id, req),
      },
    };
  }

  chat(task: RunningTask, id: number, req: ChatRequest | EmbeddingRequest, opts: AiCallOptions, op?: 'embed'): Promise<ChatResult> {
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(new AbortError('the AI call was aborted before it started', { cause: signal.reason }));
    const call = this.nextCall++;
    return new Promise<ChatResult>((resolve, reject) => {
      const onAbort = () => {
        this.calls.delete(call);
        this.post(task, { t: 'ai-abort', id, call });
        reject(new AbortError('the AI call was aborted', { cause: signal!.reason }));
      };
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.calls.set(call, {
        resolve: (v) => (done(), resolve(v)),
        reject: (e) => (done(), reject(e)),
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.post(task, {
        t: 'ai',
        id,
        call,
        req,
        opts:
          opts.noCache || opts.cacheable
            ? { ...(opts.noCache ? { noCache: true } : {}), ...(opts.cacheable ? { cacheable: true } : {}) }
            : undefined,
        ...(op ? { op } : {}),
      });
    });
  }

  /**
   * Blocks this thread (never the main one) until the main thread answers: the answer is posted
   * on the port, then the flag is set and notified; we read it with receiveMessageOnPort.
   */
  generateSync(task: RunningTask, id: number, req: ChatRequest): ChatResult {
    const call = this.nextCall++;
    let answer: (MainToWorker & { t: 'ai-result' }) | undefined;
    this.calls.set(call, { resolve: () => undefined, reject: () => undefined });
    Atomics.store(this.syncFlag, 0, 0);
    this.post(task, { t: 'ai', id, call, req, sync: true });
    while (!answer) {
      // Bounded waits so that a lost notify cannot hang the thread; the answer is read from the port.
      Atomics.wait(this.syncFlag, 0, 0, 100);
      for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
        const msg = m.message as MainToWorker;
        if (msg.t === 'ai-result' && msg.call === call) answer = msg;
        else this.dispatch(msg);
      }
    }
    this.calls.delete(call);
    if (answer.ok) return answer.value as ChatResult;
    throw rebuildError(answer.error);
  }
}

/**
 * A job's work in a thread has no workflow calls (they journal through the main thread's worker
 * loop): each one says so and what to do instead, rather than "ctx.step is not a function".
 */
const NO_WORKFLOW_CALLS = Object.fromEntries(
  ['step', 'sleep', 'sleepUntil', 'waitForSignal', 'spawn', 'join'].map((name) => [
    name,
    () =>
      Promise.reject(
        jobsError(
          'TL_ERR_JOB_WORKFLOW_UNSUPPORTED',
          `ctx.${name}() is not available to work running in a thread lane: run the workflow task on a loop lane and give its heavy steps { lane: '<thread lane>' } (docs/workflows.md)`,
        ),
      ),
  ]),
);

let state: ThreadState | undefined;
if (!isMainThread && parentPort) state = new ThreadState(parentPort);

/** Piscina calls this for every task of the lane. */
export default function runTask(env: TaskEnvelope): Promise<TaskOutcome> {
  if (!state) return Promise.reject(internalError('the lane worker entry ran outside a worker thread'));
  return state.run(env);
}
