#!/usr/bin/env node
// Starts one example with tsx and prints its URL: `npm run example -- <name>`.
// The example's main.ts prints "listening <url>" on its first stdout line; Ctrl+C stops it.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const names = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(`${here}${d.name}/main.ts`))
  .map((d) => d.name)
  .sort();
const name = process.argv[2];
if (!name || !names.includes(name)) {
  process.stderr.write(`usage: npm run example -- <name>\nexamples: ${names.join(', ')}\n`);
  process.exit(2);
}

// tsx is resolved from here, so that an example also starts from another working directory.
const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), `${here}${name}/main.ts`, ...process.argv.slice(3)], {
  stdio: ['inherit', 'pipe', 'inherit'],
});
let announced = false;
createInterface({ input: child.stdout }).on('line', (line) => {
  const m = /^listening (\S+)/.exec(line);
  if (m && !announced) {
    announced = true;
    process.stdout.write(`example "${name}" is running at ${m[1]} (Ctrl+C to stop)\n`);
  } else {
    process.stdout.write(`${line}\n`);
  }
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
