import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { internalError } from '../../errors.js';

/**
 * The dashboard's files, served as they are: hand-written HTML, CSS and native ES modules, no
 * build step, no CDN. uPlot (the charts) is served from its npm package, pinned in package.json.
 */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Files of the uPlot package served under /dashboard/vendor/. */
const VENDOR: Record<string, string> = {
  'uplot.js': 'uplot/dist/uPlot.esm.js',
  'uplot.css': 'uplot/dist/uPlot.min.css',
};

export interface Asset {
  body: Buffer;
  type: string;
}

/**
 * Reads every asset once: `src/server/dashboard/assets/` when run from the sources,
 * `dist/server/dashboard/assets/` once built (scripts/copy-assets.js copies them there). Keys are
 * paths under /dashboard/ (`app.js`, `js/jobs.js`, `vendor/uplot.js`); nothing else is served.
 */
export async function loadAssets(): Promise<Map<string, Asset>> {
  const dir = fileURLToPath(new URL('./assets/', import.meta.url));
  const out = new Map<string, Asset>();
  let files: string[];
  try {
    files = await walk(dir);
  } catch (err) {
    throw internalError(`dashboard assets ${dir} are missing: run "npm run build" (it copies src/server/dashboard/assets)`, { cause: err });
  }
  for (const file of files) {
    const type = TYPES[extname(file)];
    if (!type) continue;
    out.set(relative(dir, file).split(sep).join('/'), { body: await readFile(file), type });
  }
  if (!out.has('index.html')) throw internalError(`dashboard asset ${join(dir, 'index.html')} is missing: run "npm run build"`);
  const require = createRequire(import.meta.url);
  for (const [name, spec] of Object.entries(VENDOR)) {
    let file: string;
    try {
      file = require.resolve(spec);
    } catch (err) {
      throw internalError(`dashboard chart library ${spec} is missing: run "npm install" (uplot is a dependency)`, {
        cause: err,
      });
    }
    out.set(`vendor/${name}`, { body: await readFile(file), type: TYPES[extname(name)]! });
  }
  return out;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}
