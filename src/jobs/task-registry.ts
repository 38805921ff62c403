/**
 * The tasks a job system knows, checked against the lanes when registered, and how each one is
 * handed to its lane: the function itself on a loop lane, its module and export on a thread lane.
 */
import { pathToFileURL } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, NotFoundError } from '../errors.js';
import type { Lanes } from '../lanes/lanes.js';
import type { ModuleRef, WorkFn } from '../lanes/types.js';
import { isTask } from './task.js';
import { TASK_BY_NAME } from '../lanes/module-ref.js';
import type { TaskDef } from './types.js';

interface Entry {
  def: TaskDef;
  /** Thread lanes only: where a thread finds the task. */
  ref?: ModuleRef;
  fn?: WorkFn;
}

export class TaskRegistry {
  readonly #tasks = new Map<string, Entry>();
  readonly #lanes: Lanes;

  constructor(lanes: Lanes) {
    this.#lanes = lanes;
  }

  add(def: TaskDef): void {
    if (!isTask(def)) throw new ConfigError('register: pass an object made by defineTask({ name, lane, run, ... }, import.meta.url)');
    if (this.#tasks.has(def.name)) throw new ConfigError(`task "${def.name}" is already registered`, { details: { task: def.name } });
    const lane = this.#lanes.get(def.lane);
    if (lane.options.placement === 'thread' && !def.module) {
      throw new ConfigError(
        `task "${def.name}" runs in thread lane "${def.lane}", so threads must be able to import it: write defineTask({...}, import.meta.url) and export it, or use registerModule(path)`,
        { details: { task: def.name, lane: def.lane } },
      );
    }
    this.#tasks.set(def.name, { def });
  }

  /** Imports a module and registers every task it exports; returns their names. */
  async addModule(path: string, baseDir = process.cwd()): Promise<string[]> {
    const url = path.startsWith('file:') ? path : pathToFileURL(isAbsolute(path) ? path : resolve(baseDir, path)).href;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(url)) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`cannot load task module ${url}: ${(err as Error).message} (check jobs.modules)`, {
        cause: err,
        details: { module: url },
      });
    }
    const names: string[] = [];
    for (const [exportName, value] of Object.entries(mod)) {
      if (!isTask(value)) continue;
      this.add(Object.freeze({ ...value, module: url, exportName }) as TaskDef);
      names.push(value.name);
    }
    if (names.length === 0)
      throw new ConfigError(`task module ${url} exports no task: export the objects defineTask returns`, { details: { module: url } });
    return names;
  }

  get(name: string): TaskDef {
    const entry = this.#tasks.get(name);
    if (!entry) {
      throw new NotFoundError(`no task named "${name}"; tasks: ${[...this.#tasks.keys()].join(', ') || 'none'}`, {
        code: 'TL_ERR_JOB_UNKNOWN_TASK',
        details: { task: name },
      });
    }
    return entry.def;
  }

  has(name: string): boolean {
    return this.#tasks.has(name);
  }

  list(): TaskDef[] {
    return [...this.#tasks.values()].map((e) => e.def);
  }

  /** Names of the tasks whose lane satisfies `ok`. */
  namesWhere(ok: (lane: string) => boolean): string[] {
    const out: string[] = [];
    for (const [name, e] of this.#tasks) if (ok(e.def.lane)) out.push(name);
    return out;
  }

  /** What the lane runs for this task. */
  work(name: string): WorkFn | ModuleRef {
    const entry = this.#tasks.get(name)!;
    if (this.#lanes.get(entry.def.lane).options.placement === 'loop') {
      return (entry.fn ??= (input, ctx) => entry.def.run(input, ctx as never));
    }
    return (entry.ref ??= threadRef(entry.def));
  }
}

/**
 * Where a thread finds the task: its export when known (registered from jobs.modules), else the
 * thread looks it up by name. Nothing is imported here on purpose: the main thread importing the
 * entry script while it sits in a top-level await waits for ever (see TASK_BY_NAME).
 */
function threadRef(def: TaskDef): ModuleRef {
  return { module: def.module!, export: def.exportName ?? `${TASK_BY_NAME}${def.name}` };
}
