/**
 * The nightly compile: the results compiler registers its `results.nightly` schedule (02:00 UTC)
 * from its config, and with a seconds cron in its place the schedule fires on a real server and
 * compiles an upload nobody compiled, whose workbook then downloads.
 */
import ExcelJS from 'exceljs';
import { afterEach, expect, it } from 'vitest';
import { tempDir } from '../../test/support/runtime.js';
import { NIGHTLY_CRON, XLSX_TYPE, startResultsCompiler, type RunningApp } from './app.js';

const apps: RunningApp[] = [];
const cleanup: Array<() => void> = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  for (const c of cleanup.splice(0)) c();
});

async function start(nightlyCron?: string): Promise<RunningApp> {
  const tmp = tempDir('tasklane-results-nightly-');
  cleanup.push(tmp.remove);
  const app = await startResultsCompiler({ config: { data: tmp.dir, server: { port: 0 }, log: { level: 'warn' } }, nightlyCron });
  apps.push(app);
  return app;
}

it('registers the nightly schedule at 02:00 UTC', async () => {
  const app = await start();
  const [nightly] = (await app.runtime.jobs.schedules()).filter((s) => s.name === 'results.nightly');
  expect(nightly).toMatchObject({ task: 'results.nightly', cron: NIGHTLY_CRON, timezone: 'UTC', overlap: 'skip' });
  const next = new Date(nightly!.nextRunAt!);
  expect([next.getUTCHours(), next.getUTCMinutes(), next.getUTCSeconds()]).toEqual([2, 0, 0]);
  expect(next.getTime() - Date.now()).toBeLessThanOrEqual(86_400_000);
});

it('fires and compiles the uploads nobody compiled (seconds cron in place of the nightly one)', async () => {
  const app = await start('* * * * * *');
  const upload = await fetch(`${app.url}/uploads`, {
    method: 'POST',
    headers: { 'content-type': 'text/csv' },
    body: 'student,subject,score\nann,maths,71\nbob,maths,64\nann,physics,80\nbob,physics,58',
  });
  expect(upload.status).toBe(201);
  const { id } = (await upload.json()) as { id: string };
  expect((await fetch(`${app.url}/results/${id}`)).status).toBe(404);
  let job: Awaited<ReturnType<typeof app.runtime.jobs.get>>;
  const end = Date.now() + 15_000;
  for (;;) {
    const jobs = (await app.runtime.jobs.list({ task: 'results.nightly' })).jobs;
    job = jobs.find((j) => j.state === 'succeeded' && (j.result as { compiled: number }).compiled === 1);
    if (job || Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(job?.idempotencyKey).toMatch(/^schedule:results\.nightly:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
  const res = await fetch(`${app.url}/results/${id}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe(XLSX_TYPE);
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(Buffer.from(await res.arrayBuffer()));
  const students = wb.getWorksheet('Students')!;
  expect(students.getRow(2).getCell(2).value).toBe('ann');
  // Later ticks find nothing left to compile.
  const info = (await app.runtime.jobs.schedules()).find((s) => s.name === 'results.nightly')!;
  expect(info.lastJobId).toBeTruthy();
});
