/**
 * The Redis engine's state transitions, each one Lua script (one file per script in `lua/`, with
 * a header naming its KEYS and ARGV, as BullMQ keeps its own) so a record, its indexes and the
 * event it emits change together or not at all. BullMQ moves the job between its own lists
 * afterwards; the record stays the truth, and a job BullMQ hands out whose record says otherwise
 * is dropped at claim time (see `claimed.lua`).
 *
 * Conventions: KEYS[1] = job hash, KEYS[2] = event stream, KEYS[3] = BullMQ lock (when used);
 * ARGV[1] = key prefix, ARGV[2] = now (epoch ms). A line `--- @include "name"` is replaced by
 * `lua/name.lua`. The number of keys a script declares is read from its header, so the header
 * cannot drift from the call.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const DIR = new URL('./lua/', import.meta.url);

export interface LuaScript {
  /** File name without `.lua`. */
  name: string;
  lua: string;
  numberOfKeys: number;
}

function read(name: string): string {
  return readFileSync(new URL(`${name}.lua`, DIR), 'utf8');
}

/** Reads one script, its includes inlined. */
export function loadScript(name: string): LuaScript {
  const source = read(name);
  const header = /^--\[\[([\s\S]*?)\]\]/.exec(source)?.[1] ?? '';
  const keys = [...header.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
  const lua = source.replace(/^--- @include "([\w-]+)"$/gm, (_, inc: string) => read(inc));
  return { name, lua, numberOfKeys: keys.length ? Math.max(...keys) : 0 };
}

/** ioredis command name → script file. */
export const SCRIPTS = {
  tlEnqueue: 'enqueue',
  tlClaimed: 'claimed',
  tlRenew: 'renew',
  tlFinish: 'finish',
  tlRelease: 'release',
  tlCancel: 'cancel',
  tlRetry: 'retry',
  tlRecover: 'recover',
  tlAppend: 'append',
  tlPrune: 'prune',
  tlOwnerCounts: 'owner-counts',
  tlFormat: 'format',
  tlJournal: 'journal',
  tlPark: 'park',
  tlWakeDue: 'wake-due',
  tlSignal: 'signal',
  tlTakeSignal: 'take-signal',
  // Per-task limit groups and schedules (limits.ts, schedule-store.ts).
  tlHold: 'hold',
  tlGate: 'gate',
  tlSchedAdvance: 'sched-advance',
} as const;

/** Defines every script on a connection as an ioredis command (sent by EVALSHA, loaded on first use). */
export function defineScripts(client: Redis): void {
  for (const [name, file] of Object.entries(SCRIPTS)) {
    const { lua, numberOfKeys } = loadScript(file);
    client.defineCommand(name, { lua, numberOfKeys });
  }
}
