import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/client', import.meta.url));
const BUILTINS = new Set(builtinModules);

describe('tasklane/client stays browser-safe', () => {
  it('imports no Node builtin, nothing from the server at run time, and only browser-ready packages', () => {
    for (const file of readdirSync(SRC).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(SRC, file), 'utf8');
      for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)) {
        const [, , typeOnly, spec] = m;
        const where = `${file}: ${spec}`;
        expect(spec!.startsWith('node:') || BUILTINS.has(spec!), where).toBe(false);
        if (spec!.startsWith('../')) expect(typeOnly, `${where} must be a type-only import`).toBeTruthy();
        else if (!spec!.startsWith('./')) expect(['eventsource-parser'], where).toContain(spec);
      }
      expect(text, `${file} must not use Buffer or process`).not.toMatch(/\b(Buffer|process)\./);
    }
  });
});
