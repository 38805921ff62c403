import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadScript, SCRIPTS } from '../../src/jobs/engines/redis/scripts.js';

const dir = fileURLToPath(new URL('../../src/jobs/engines/redis/lua/', import.meta.url));

describe('redis engine Lua scripts', () => {
  it('one file per script, each with a KEYS/ARGV header the key count is read from', () => {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.lua'))
      .map((f) => f.slice(0, -4));
    expect(files.filter((f) => f !== 'prelude').sort()).toEqual(Object.values(SCRIPTS).sort());
    const keys: Record<string, number> = {};
    for (const name of Object.values(SCRIPTS)) {
      const s = loadScript(name);
      expect(s.lua).toMatch(/^--\[\[[\s\S]*ARGV\[1\] key prefix[\s\S]*\]\]/);
      expect(s.lua).not.toMatch(/@include/);
      keys[name] = s.numberOfKeys;
    }
    expect(keys).toEqual({
      enqueue: 3,
      claimed: 3,
      renew: 3,
      finish: 3,
      release: 3,
      cancel: 2,
      retry: 2,
      recover: 3,
      append: 2,
      prune: 0,
      'owner-counts': 2,
      format: 1,
      journal: 3,
      park: 3,
      'wake-due': 1,
      signal: 2,
      'take-signal': 3,
      hold: 3,
      gate: 4,
      'sched-advance': 1,
    });
    // The prelude's helpers are inlined where a script includes it.
    expect(loadScript('finish').lua).toContain('local function move(');
  });
});
