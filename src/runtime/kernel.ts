import { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import { makeScrubber, type LoadOptions, type ResolvedConfig } from '../config/index.js';
import { ClosedError, type TasklaneError, runtimeStateError } from '../errors.js';
import { Closers, type CloseReport, type Closer } from './closers.js';
import type { Host } from './host.js';
import { createLogger, type Logger } from './logger.js';
import { LoopMonitor } from './loop-monitor.js';
import { Reloader, type ReloadReport, type ReloadStepFn } from './reload.js';
import { createMetrics } from './metrics.js';
import { TRACING_OFF, type Tracing, type TracingFactory } from '../telemetry/tracing.js';

export type RuntimeState = 'created' | 'starting' | 'started' | 'closing' | 'closed';

export interface RuntimeOptions extends LoadOptions {
  /** An already resolved configuration (skips loading). */
  resolved?: ResolvedConfig;
  /** Where log lines go; default stderr. */
  logDestination?: { write(line: string): unknown };
}

export interface RuntimeEvents {
  /** The state changed. */
  state: [state: RuntimeState];
  /** A listener or background step failed; the runtime carries on. */
  error: [error: TasklaneError];
}

/**
 * The runtime's kernel: configuration, log, metrics, loop monitor, start steps and closers. It
 * knows no subsystem; lanes, ai and jobs see it through the Host interface, and `Runtime`
 * (src/create-runtime.ts) extends it with them. Nothing mutable lives at module level: two
 * runtimes in one process share nothing.
 */
export class RuntimeKernel extends EventEmitter<RuntimeEvents> implements Host {
  readonly config: ResolvedConfig;
  readonly log: Logger;
  readonly loop: LoopMonitor;
  readonly metrics: Registry;
  readonly tracing: Tracing;
  /** Replaces every configured secret (those read by reloads too) in a text with [redacted]. */
  readonly scrub: (text: string) => string;
  readonly #reloader: Reloader;
  #scrubber: (text: string) => string;
  readonly #secrets: Set<string>;
  #closers = new Closers();
  #starters: Array<{ name: string; start: () => unknown | Promise<unknown> }> = [];
  #state: RuntimeState = 'created';
  readonly #reloadable: boolean;
  #closing?: Promise<CloseReport>;

  constructor(config: ResolvedConfig, options: RuntimeOptions = {}, tracing?: TracingFactory) {
    super();
    this.config = config;
    this.#secrets = new Set(config.secrets);
    this.#scrubber = makeScrubber(this.#secrets);
    this.scrub = (text) => this.#scrubber(text);
    this.log = createLogger({ level: config.log.level, scrub: this.scrub, destination: options.logDestination as any });
    // A key replaced by a reload stays redacted too: it may still turn up in an old log line's context.
    this.#reloadable = !options.resolved;
    this.#reloader = new Reloader(
      options,
      () => this.config,
      (secrets) => {
        const before = this.#secrets.size;
        for (const s of secrets) this.#secrets.add(s);
        if (this.#secrets.size !== before) this.#scrubber = makeScrubber(this.#secrets);
      },
    );
    this.tracing = tracing ? tracing(this) : TRACING_OFF;
    // The first closer runs last: spans of everything that closes before it are still sent.
    this.onClose('tracing', () => this.tracing.close());
    this.loop = new LoopMonitor();
    this.onClose('loop-monitor', () => this.loop.close());
    this.metrics = createMetrics(this.loop);
    this.onClose('metrics', () => this.metrics.clear());
  }

  get state(): RuntimeState {
    return this.#state;
  }

  /** True once close() was called. */
  get closing(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  /** Registers a closer; they run in reverse order of registration. Returns an unregister function. */
  onClose(name: string, close: Closer): () => void {
    if (this.closing) throw new ClosedError();
    return this.#closers.add(name, close);
  }

  /** Registers a step to run on start(), in registration order. */
  onStart(name: string, start: () => unknown | Promise<unknown>): void {
    if (this.#state !== 'created') throw runtimeStateError(`cannot add start step "${name}" once the runtime has started`);
    this.#starters.push({ name, start });
  }

  /** Registers what a subsystem changes on reload(); returns a function that removes it. */
  onReload(name: string, step: ReloadStepFn): () => void {
    return this.#reloader.add(name, step);
  }

  /**
   * Reads the configuration file and every env:/file: secret again and applies what can change
   * live. An invalid configuration changes nothing and throws a ConfigError listing every problem.
   */
  reload(): Promise<ReloadReport> {
    this.assertOpen();
    if (this.#reloadable === false) {
      return Promise.reject(
        runtimeStateError(
          'this runtime was built from a resolved configuration (createRuntime({ resolved })); there is no file to read again',
        ),
      );
    }
    return this.#reloader.reload();
  }

  /** The configuration in force (the last reloaded one; runtime.config stays the one started with). */
  get currentConfig(): ResolvedConfig {
    return this.#reloader.config;
  }

  /** Throws ClosedError once close() was called; for APIs that accept new work. */
  assertOpen(what = 'runtime'): void {
    if (this.closing) throw new ClosedError(what);
  }

  async start(): Promise<void> {
    if (this.#state !== 'created') return;
    this.#setState('starting');
    for (const step of this.#starters) await step.start();
    this.#setState('started');
  }

  /**
   * Closes everything this runtime opened, in reverse order, under one deadline. Idempotent:
   * every call returns the same promise. Resolves even when a closer hangs (see the report).
   */
  close(options: { deadlineMs?: number } = {}): Promise<CloseReport> {
    this.#closing ??= (async () => {
      this.#setState('closing');
      const report = await this.#closers.closeAll(options.deadlineMs ?? this.config.closeDeadlineMs);
      if (report.failed.length || report.timedOut.length) {
        this.log.warn({ failed: report.failed, timedOut: report.timedOut }, 'close finished with problems');
      }
      this.#setState('closed');
      this.log.flush?.();
      return report;
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Reports a background failure without throwing (a listener that throws never unwinds us). */
  reportError(err: TasklaneError): void {
    this.log.error({ err }, err.message);
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', err);
      } catch (listenerErr) {
        this.log.error({ err: listenerErr }, 'an error listener threw');
      }
    }
  }

  #setState(state: RuntimeState): void {
    this.#state = state;
    try {
      this.emit('state', state);
    } catch (err) {
      this.log.error({ err }, 'a state listener threw');
    }
  }
}
