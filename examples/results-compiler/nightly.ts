/**
 * The nightly compile (the outside cron the original service needed): every upload without a
 * result yet is compiled into its workbook, in the `io` lane's threads. The `results.nightly`
 * schedule in app.ts makes one job a night across a fleet; a night the server was down is run
 * once when it is back.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask } from '../../src/index.js';
import { writeResultWorkbook } from './files.js';
import { compileRows, parseCsv, parseXlsx } from './operations.js';

export const nightlyCompile = defineTask(
  {
    name: 'results.nightly',
    lane: 'io',
    maxAttempts: 2,
    async run(input: { dir: string }, ctx) {
      const uploads = join(input.dir, 'uploads');
      const results = join(input.dir, 'results');
      const files = existsSync(uploads) ? readdirSync(uploads).filter((f) => /\.(csv|xlsx)$/.test(f)) : [];
      let compiled = 0;
      for (const file of files) {
        const id = file.replace(/\.(csv|xlsx)$/, '');
        if (existsSync(join(results, `${id}.xlsx`))) continue;
        const bytes = readFileSync(join(uploads, file));
        const rows = file.endsWith('.csv') ? parseCsv(bytes.toString('utf8')) : await parseXlsx(bytes);
        await writeResultWorkbook({ path: join(results, `${id}.xlsx`), compiled: compileRows(rows, 0, ctx.signal), analysis: null });
        compiled++;
        ctx.progress({ compiled, of: files.length });
      }
      return { uploads: files.length, compiled };
    },
  },
  import.meta.url,
);
