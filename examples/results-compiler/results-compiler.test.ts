/**
 * Seed 003: AI, data and file work blocked the server's event loop, so one user's upload stalled
 * every other request. Here 20 users upload and compile at once while /health keeps answering,
 * a runaway operation times out with a clear error and frees its slot, and the result downloads
 * as a real workbook.
 */
import ExcelJS from 'exceljs';
import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../../test/support/mock-provider.js';
import { LogCapture, tempDir } from '../../test/support/runtime.js';
import { ANALYST_MODEL, XLSX_TYPE, startResultsCompiler, type RunningApp } from './app.js';

const SUBJECTS = ['maths', 'english', 'physics', 'chemistry', 'biology', 'history'];

function scores(user: number, students = 40): Array<[string, string, number]> {
  let seed = user * 1_000_003 + 17;
  const next = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
  const rows: Array<[string, string, number]> = [];
  for (let s = 0; s < students; s++)
    for (const subject of SUBJECTS) rows.push([`student-${user}-${s}`, subject, Math.round(20 + next() * 80)]);
  return rows;
}

function csv(rows: Array<[string, string, number]>): string {
  return ['student,subject,score', ...rows.map((r) => r.join(','))].join('\n');
}

async function xlsx(rows: Array<[string, string, number]>): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  const sheet = wb.addWorksheet('scores');
  sheet.addRow(['student', 'subject', 'score']);
  for (const r of rows) sheet.addRow(r);
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/** Polls /health every `everyMs` until stopped; records each answer's latency. */
function pollHealth(url: string, everyMs = 25): { stop(): Promise<number[]> } {
  const latencies: number[] = [];
  let running = true;
  // Failures are kept and thrown by stop(), never left as unhandled rejections.
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const res = await fetch(`${url}/health`);
      const body = (await res.json()) as { status: string };
      if (res.status !== 200 || body.status !== 'alive') throw new Error(`/health answered ${res.status} ${JSON.stringify(body)}`);
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })().then(
    () => undefined,
    (err: unknown) => err,
  );
  return {
    async stop() {
      running = false;
      const err = await loop;
      if (err) throw err;
      return latencies;
    },
  };
}

async function upload(url: string, body: string | Buffer, type: string): Promise<string> {
  const res = await fetch(`${url}/uploads`, {
    method: 'POST',
    headers: { 'content-type': type },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function compile(url: string, id: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${url}/uploads/${id}/compile`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('results-compiler (seed 003)', () => {
  let app: RunningApp | undefined;
  let mock: MockProvider | undefined;
  let tmp: ReturnType<typeof tempDir> | undefined;

  afterEach(async () => {
    await app?.close();
    await mock?.close();
    tmp?.remove();
    app = mock = tmp = undefined;
  });

  async function start(lanes: Record<string, { timeoutMs: number }> = {}) {
    mock = await startMockProvider();
    tmp = tempDir('results-compiler-');
    app = await startResultsCompiler({
      config: {
        server: { port: 0 },
        data: tmp.dir,
        log: { level: 'warn' },
        providers: { groq: { type: 'openai-compatible', baseURL: `${mock.url}/v1`, apiKeys: ['rc-key-1'] } },
        models: { [ANALYST_MODEL]: [{ provider: 'groq', model: 'llama-3.1-8b-instant' }] },
        lanes,
      },
      logDestination: new LogCapture(),
    });
    return app;
  }

  it('serves 20 users uploading and compiling at once while /health answers promptly, and each result downloads as XLSX', async () => {
    const { url, runtime } = await start();
    const health = pollHealth(url);
    const users = await Promise.all(
      Array.from({ length: 20 }, async (_, user) => {
        const rows = scores(user);
        const id = user % 2 === 0 ? await upload(url, csv(rows), 'text/csv') : await upload(url, await xlsx(rows), XLSX_TYPE);
        const res = await compile(url, id, { bootstrap: 5_000 });
        expect(res.status).toBe(200);
        const body = (await res.json()) as {
          students: number;
          rows: number;
          analysis: string;
          download: string;
          classMean: { low: number; high: number; mean: number };
        };
        expect(body.rows).toBe(rows.length);
        expect(body.students).toBe(40);
        expect(body.classMean.low).toBeLessThanOrEqual(body.classMean.mean);
        expect(body.classMean.high).toBeGreaterThanOrEqual(body.classMean.mean);
        // The AI summary came from the provider (the mock echoes the prompt).
        expect(body.analysis).toContain('Class mean');
        const file = await fetch(`${url}${body.download}`);
        expect(file.status).toBe(200);
        expect(file.headers.get('content-type')).toContain(XLSX_TYPE);
        expect(file.headers.get('content-disposition')).toMatch(/^attachment; filename="results-[0-9a-f-]+\.xlsx"$/);
        const wb = new ExcelJS.Workbook();
        await wb.xlsx.load((await file.arrayBuffer()) as ExcelJS.Buffer);
        return { user, rows, wb };
      }),
    );
    const latencies = (await health.stop()).sort((a, b) => a - b);

    for (const { user, rows, wb } of users) {
      const sheet = wb.getWorksheet('Students')!;
      expect(sheet.getRow(1).values).toEqual([undefined, 'rank', 'student', ...[...SUBJECTS].sort(), 'total', 'average', 'grade']);
      expect(sheet.rowCount).toBe(41);
      // Check the top student against a recomputation from the uploaded rows.
      const totals = new Map<string, number>();
      for (const [s, , score] of rows) totals.set(s, (totals.get(s) ?? 0) + score);
      const best = Math.max(...totals.values());
      const top = sheet.getRow(2).values as unknown[];
      expect(top[1]).toBe(1);
      expect(String(top[2])).toMatch(new RegExp(`^student-${user}-`));
      expect(top[3 + SUBJECTS.length]).toBe(best);
      expect(wb.getWorksheet('Subjects')!.rowCount).toBe(1 + SUBJECTS.length);
      expect(String(wb.getWorksheet('Analysis')!.getRow(3).getCell(2).value)).toContain('Class mean');
    }
    // Every compile asked the provider once; /health never waited behind the work.
    expect(mock!.calls.filter((c) => c.path.endsWith('/chat/completions'))).toHaveLength(20);
    expect(latencies.length).toBeGreaterThan(5);
    const p50 = latencies[Math.floor(latencies.length / 2)]!;
    expect(p50).toBeLessThan(250);
    expect(latencies.at(-1)!).toBeLessThan(2_500);
    const stats = runtime.lanes.stats();
    expect(stats.data!.completed).toBe(20);
    expect(stats.io!.completed).toBe(20 * 4);
  }, 60_000);

  it('fails an operation past its timeout with a clear error, frees its slot, and keeps serving', async () => {
    const { url, runtime } = await start({ data: { timeoutMs: 5_000 } });
    const ids = await Promise.all(Array.from({ length: 4 }, (_, u) => upload(url, csv(scores(u, 20)), 'text/csv')));
    const health = pollHealth(url);
    // A billion resamples would run for minutes: the lane cuts each one at its timeout (5 s here,
    // so that the threads that replace the terminated ones have time to boot on a busy machine).
    const t0 = performance.now();
    const runaway = await Promise.all(ids.map((id) => compile(url, id, { bootstrap: 1_000_000_000, analysis: false })));
    const elapsed = performance.now() - t0;
    for (const res of runaway) {
      expect(res.status).toBe(504);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('TL_ERR_LANE_TIMEOUT');
      expect(body.error.message).toBe('lane "data" timed out after 5000 ms while running');
    }
    expect(elapsed).toBeLessThan(20_000);
    // All four slots are free again: four normal compiles run at once and finish.
    expect(runtime.lanes.stats().data!.active).toBe(0);
    const ok = await Promise.all(ids.map((id) => compile(url, id, { bootstrap: 1_000, analysis: false })));
    for (const res of ok) expect(res.status).toBe(200);
    const latencies = (await health.stop()).sort((a, b) => a - b);
    expect(latencies.at(-1)!).toBeLessThan(2_500);
    const stats = runtime.lanes.stats().data!;
    expect(stats.timedOut).toBe(4);
    expect(stats.completed).toBe(4);
  }, 60_000);

  it('answers bad uploads with 4xx JSON naming the fix', async () => {
    const { url } = await start();
    const wrongType = await fetch(`${url}/uploads`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: '' });
    expect(wrongType.status).toBe(400);
    const id = await upload(url, 'name,grade\nann,3', 'text/csv');
    const res = await compile(url, id, {});
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('TL_ERR_VALIDATION');
    expect(body.error.message).toContain('no "student" column');
    const missing = await compile(url, '00000000-0000-0000-0000-000000000000', {});
    expect(missing.status).toBe(404);
    const badBody = await compile(url, id, { bootstrap: -1 });
    expect(badBody.status).toBe(400);
  });
});
