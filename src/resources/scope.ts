import { ClosedError, workError } from '../errors.js';
import type { ResourceDef } from './resource.js';

interface Entry {
  def: ResourceDef;
  value: Promise<unknown>;
}

/**
 * The resources one thread has opened. Each is created lazily, once (concurrent first calls share
 * one creation), and closed in reverse order of creation by `close()`.
 */
export class ResourceScope {
  #defs = new Map<string, ResourceDef>();
  #open = new Map<ResourceDef, Entry>();
  #order: Entry[] = [];
  #closed = false;
  #lookup: (name: string) => ResourceDef | undefined;

  /** `lookup` finds a definition by name when none was registered in this scope. */
  constructor(lookup: (name: string) => ResourceDef | undefined = () => undefined) {
    this.#lookup = lookup;
  }

  /** Makes a definition reachable by name. */
  register(def: ResourceDef): void {
    this.#defs.set(def.name, def);
  }

  get(nameOrDef: string | ResourceDef): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ClosedError('resource scope of this thread or runtime'));
    let def: ResourceDef | undefined;
    if (typeof nameOrDef === 'string') {
      def = this.#defs.get(nameOrDef) ?? this.#lookup(nameOrDef);
      if (!def) {
        return Promise.reject(
          workError(
            'TL_ERR_RESOURCE_UNKNOWN',
            `no resource named "${nameOrDef}" in this thread: pass the definition from defineResource() instead of its name, or import the module that defines it`,
            {
              details: { resource: nameOrDef },
            },
          ),
        );
      }
    } else {
      def = nameOrDef;
      this.register(def);
    }
    // Same name, other object (a module loaded twice): reuse what is open under that name.
    const known = this.#open.get(def) ?? [...this.#open.values()].find((e) => e.def.name === def!.name);
    if (known) return known.value;
    const entry: Entry = { def, value: Promise.resolve().then(() => def!.create()) };
    this.#open.set(def, entry);
    this.#order.push(entry);
    // A failed creation is forgotten so that the next call tries again.
    entry.value.catch(() => {
      this.#open.delete(def!);
      this.#order.splice(this.#order.indexOf(entry), 1);
    });
    return entry.value;
  }

  /** Names of the resources opened so far. */
  get opened(): string[] {
    return this.#order.map((e) => e.def.name);
  }

  /** Closes every opened resource, newest first. Returns the failures (never throws). */
  async close(): Promise<Array<{ name: string; error: string }>> {
    this.#closed = true;
    const failures: Array<{ name: string; error: string }> = [];
    const entries = this.#order.splice(0).reverse();
    this.#open.clear();
    for (const entry of entries) {
      let value: unknown;
      try {
        value = await entry.value;
      } catch {
        continue; // never opened: nothing to close
      }
      try {
        await entry.def.close?.(value);
      } catch (err) {
        failures.push({ name: entry.def.name, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return failures;
  }
}
