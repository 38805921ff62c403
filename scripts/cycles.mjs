#!/usr/bin/env node
// Import cycles among the files of a folder (default src/), counting `import type` and re-exports:
// a type cycle is still a tangle a reader must hold in their head. Prints each cycle's files; exit 1 if any.
//   node scripts/cycles.mjs [folder]   (npm run lint runs it on src/; test/structure/layers.test.ts too)
import fs from 'node:fs';
import path from 'node:path';
const root = process.argv[2] ?? 'src';
const files = [];
(function walk(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(ts|mts|js|mjs)$/.test(e.name) && !/\.d\.ts$/.test(e.name)) files.push(p);
  }
})(root);
const edges = new Map();
for (const f of files) {
  const out = new Set();
  for (const m of fs.readFileSync(f, 'utf8').matchAll(/(?:import|export)\s[^;]*?from\s+['"](\.[^'"]+)['"]/gs)) {
    const base = path.join(path.dirname(f), m[1]);
    const hit = [base.replace(/\.js$/, '.ts'), base, base.replace(/\.js$/, '/index.ts'), path.join(base, 'index.ts')].find((p) =>
      files.includes(p),
    );
    if (hit) out.add(hit);
  }
  edges.set(f, out);
}
let n = 0;
const index = new Map(),
  low = new Map(),
  stack = [],
  on = new Set(),
  cycles = [];
function visit(v) {
  index.set(v, n);
  low.set(v, n);
  n++;
  stack.push(v);
  on.add(v);
  for (const w of edges.get(v)) {
    if (!index.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const c = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      c.push(w);
    } while (w !== v);
    if (c.length > 1) cycles.push(c.sort());
  }
}
for (const f of files) if (!index.has(f)) visit(f);
if (cycles.length === 0) {
  console.log(`no import cycles among ${files.length} files in ${root}`);
  process.exit(0);
}
console.log(`${cycles.length} import cycle(s) among ${files.length} files in ${root} (type imports counted):`);
for (const c of cycles.sort((a, b) => b.length - a.length)) console.log(`  ${c.length} files: ${c.join(', ')}`);
process.exit(1);
