// Runs one benchmark: `npm run bench -- <name>` loads bench/<name>.js.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const name = process.argv[2];
const file = name && join(here, `${name}.js`);
if (!file || !existsSync(file)) {
  const names = readdirSync(here)
    .filter((f) => f.endsWith('.js') && f !== 'run.js')
    .map((f) => f.slice(0, -3));
  process.stderr.write(`usage: npm run bench -- <name>\nbenchmarks: ${names.join(', ')}\n`);
  process.exit(2);
}
await import(pathToFileURL(file).href);
