#!/usr/bin/env node
// Copies the non-TypeScript files the built code reads at run time (tsc only emits .js) into dist/.
import { cpSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const folders = ['server/dashboard/assets', 'jobs/engines/redis/lua', 'ai/shared/lua'];

for (const folder of folders) {
  const from = join(root, 'src', folder);
  if (!existsSync(from)) throw new Error(`copy-assets: ${from} does not exist`);
  cpSync(from, join(root, 'dist', folder), { recursive: true });
}
