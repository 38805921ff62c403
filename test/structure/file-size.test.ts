import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAX_LINES = 350;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'vendor' ? [] : sources(path);
    return /\.(ts|js|lua)$/.test(e.name) ? [path] : [];
  });
}

describe('module size', () => {
  it(`a file in src/ past ${MAX_LINES} lines says why on its first line ("Over ${MAX_LINES} lines: ...")`, () => {
    const offending: string[] = [];
    for (const file of sources(join(ROOT, 'src'))) {
      const rel = relative(ROOT, file).replaceAll('\\', '/');
      const text = readFileSync(file, 'utf8');
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
      if (lines > MAX_LINES && !/^(\/\/|--) Over 350 lines: \S/.test(text)) offending.push(`${rel} (${lines} lines)`);
    }
    expect(offending).toEqual([]);
  });
});
