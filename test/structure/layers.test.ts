import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every relative import and re-export specifier of a file, `import type` included. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)\s[^;]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/gs)].map(
    (m) => (m[1] ?? m[2])!,
  );
}

describe('the layout of src/', () => {
  it('has no import cycle, counting type imports (scripts/cycles.mjs, also run by npm run lint)', async () => {
    const result = await run(process.execPath, ['scripts/cycles.mjs', 'src'], { cwd: ROOT }).catch(
      (err: { stdout: string; code: number }) => err,
    );
    expect(result.stdout).toMatch(/^no import cycles among \d+ files in src/);
  });

  it('keeps runtime/ a kernel: nothing in it imports ai/, jobs/, lanes/, server/ or the composition root', () => {
    const dir = join(ROOT, 'src/runtime');
    const offending: string[] = [];
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      for (const spec of relativeImports(join(dir, name))) {
        if (/^\.\.\/(ai|jobs|lanes|server|cli)\/|^\.\.\/(create-runtime|index)\.js$/.test(spec)) offending.push(`${name} → ${spec}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('lets no subsystem import the composition root or the public entry (dynamic import() included)', () => {
    const roots = new Set(['src/create-runtime.ts', 'src/index.ts', 'src/spi.ts'].map((f) => join(ROOT, f)));
    const offending: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts')) {
          for (const spec of relativeImports(p))
            if (roots.has(resolve(dirname(p), spec.replace(/\.js$/, '.ts')))) offending.push(`${p.slice(ROOT.length)} → ${spec}`);
        }
      }
    };
    for (const area of ['ai', 'jobs', 'lanes', 'runtime', 'resources', 'config', 'util']) walk(join(ROOT, 'src', area));
    expect(offending).toEqual([]);
  });
});
