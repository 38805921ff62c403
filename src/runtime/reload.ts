/**
 * Configuration reload without a restart (SIGHUP, `tasklane reload`, POST /v1/admin/reload). The
 * file and every `env:`/`file:` secret are read again; if anything is wrong, nothing changes and
 * every problem is listed. Otherwise each subsystem's reload step applies what it can change live
 * (client keys, provider keys, routes, limits) and names what it cannot; settings outside every
 * step's reach (port, store...) are reported as needing a restart. Work already running keeps what
 * it started with: a call holds its key, a stream its route.
 */
import { loadConfig, type LoadOptions, type ResolvedConfig } from '../config/index.js';
import { ConfigError, TasklaneError } from '../errors.js';

/** What one reload step did with the new configuration. */
export interface ReloadStep {
  /** Settings it changed live (e.g. `server.apiKeys`, `providers.groq.apiKeys`). */
  applied: string[];
  /** Settings that changed but that it cannot change live. */
  restart?: string[];
}

export type ReloadStepFn = (next: ResolvedConfig, previous: ResolvedConfig) => ReloadStep;

export interface ReloadReport {
  /** Settings changed live. */
  applied: string[];
  /** Settings that changed in the file but take effect only after a restart. */
  restartRequired: string[];
  /** The config file read, if any. */
  file?: string;
  at: number;
}

/**
 * Settings a reload step may claim; any other top-level or server setting that changed is
 * reported as needing a restart.
 */
const WATCHED: Array<{ path: string; get(c: ResolvedConfig): unknown }> = [
  { path: 'server.host', get: (c) => c.server.host },
  { path: 'server.port', get: (c) => c.server.port },
  { path: 'server.bodyLimitBytes', get: (c) => c.server.bodyLimitBytes },
  { path: 'server.streams', get: (c) => ({ ...c.server.streams, tokenSecret: c.server.streams.tokenSecret ? 'set' : undefined }) },
  { path: 'server.publicMetrics', get: (c) => c.server.publicMetrics },
  { path: 'store', get: (c) => c.store },
  { path: 'data', get: (c) => c.dataDir },
  { path: 'lanes', get: (c) => c.lanes },
  { path: 'jobs', get: (c) => c.jobs },
  { path: 'schedules', get: (c) => c.schedules },
  { path: 'log', get: (c) => c.log },
  { path: 'ai', get: (c) => c.ai },
  { path: 'demo', get: (c) => c.demo },
  // The tracer and its exporter are built once, at start.
  { path: 'telemetry', get: (c) => c.telemetry },
];

export class Reloader {
  readonly #steps = new Map<string, ReloadStepFn>();
  readonly #options: LoadOptions;
  #current: () => ResolvedConfig;
  #onSecrets: (secrets: string[]) => void;
  #last?: ResolvedConfig;
  #running?: Promise<ReloadReport>;

  constructor(options: LoadOptions, current: () => ResolvedConfig, onSecrets: (secrets: string[]) => void) {
    this.#options = options;
    this.#current = current;
    this.#onSecrets = onSecrets;
  }

  /** Adds a step; returns a function that removes it. */
  add(name: string, step: ReloadStepFn): () => void {
    this.#steps.set(name, step);
    return () => {
      if (this.#steps.get(name) === step) this.#steps.delete(name);
    };
  }

  /** The configuration in force after the last reload (or the one started with). */
  get config(): ResolvedConfig {
    return this.#last ?? this.#current();
  }

  /** Reads and applies the configuration again. One at a time: a reload during another waits for it. */
  reload(): Promise<ReloadReport> {
    const run = (this.#running ?? Promise.resolve()).catch(() => undefined).then(() => this.#reload());
    this.#running = run;
    return run;
  }

  #reload(): ReloadReport {
    const previous = this.config;
    let next: ResolvedConfig;
    try {
      // The same file and overrides as at start; a config given inline is read as given.
      next = loadConfig({ ...this.#options, ...(previous.file && !this.#options.config ? { file: previous.file } : {}) });
    } catch (err) {
      throw refusal(err);
    }
    // New secrets are redacted before anything can log them.
    this.#onSecrets(next.secrets);
    const applied: string[] = [];
    const restart = new Set<string>();
    for (const w of WATCHED) if (JSON.stringify(w.get(previous)) !== JSON.stringify(w.get(next))) restart.add(w.path);
    for (const [name, step] of this.#steps) {
      try {
        const r = step(next, previous);
        applied.push(...r.applied);
        for (const s of r.restart ?? []) restart.add(s);
      } catch (err) {
        throw new ConfigError(`reload step "${name}" failed: ${(err as Error).message}`, { cause: err });
      }
    }
    this.#last = next;
    return { applied, restartRequired: [...restart].sort(), ...(next.file ? { file: next.file } : {}), at: Date.now() };
  }
}

/** The loader's error, reworded to list every problem (the loader names the first and counts the rest). */
function refusal(err: unknown): TasklaneError {
  if (!TasklaneError.isInstance(err)) return new ConfigError(`the new configuration cannot be read: ${(err as Error).message}`);
  const d = err.details as { issues?: Array<{ path: string; message: string }>; missing?: Array<{ setting?: string }> };
  const problems =
    d.issues && d.issues.length > 1
      ? d.issues.map((i) => `${i.path || '(root)'}: ${i.message}`)
      : err.message.includes('\n')
        ? err.message
            .split('\n')
            .slice(1)
            .map((l) => l.replace(/^\s*-\s*/, ''))
        : [err.message];
  return new ConfigError(
    `reload refused, the running configuration stays: ${problems.length} problem${problems.length > 1 ? 's' : ''}: ${problems.join('; ')}`,
    {
      code: err.code as 'TL_ERR_CONFIG_INVALID',
      details: { problems },
    },
  );
}
