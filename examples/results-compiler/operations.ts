import { mulberry32 } from '../shared/random.js';
/**
 * Data operations of the results compiler. They run in the `data` lane (worker threads), so
 * parsing a spreadsheet or resampling scores never stalls the server's event loop.
 */

export interface ScoreRow {
  student: string;
  subject: string;
  score: number;
}

export interface StudentResult {
  student: string;
  total: number;
  average: number;
  grade: string;
  rank: number;
  scores: Record<string, number>;
}

export interface SubjectStats {
  subject: string;
  count: number;
  mean: number;
  min: number;
  max: number;
  stdev: number;
}

export interface Compiled {
  rows: number;
  subjects: SubjectStats[];
  students: StudentResult[];
  /** Bootstrap 95 % interval of the class average, when asked for. */
  classMean: { mean: number; low?: number; high?: number; resamples: number };
}

export interface CompileInput {
  format: 'csv' | 'xlsx';
  bytes: Uint8Array;
  /** Bootstrap resamples of the class average (CPU-bound; 0 = none). */
  bootstrap: number;
}

/** Thread entry: parses an upload and compiles the results. */
export async function compile(input: CompileInput, ctx: { signal: AbortSignal; progress(data: unknown): void }): Promise<Compiled> {
  const rows = input.format === 'csv' ? parseCsv(Buffer.from(input.bytes).toString('utf8')) : await parseXlsx(input.bytes);
  ctx.progress({ step: 'parsed', rows: rows.length });
  return compileRows(rows, input.bootstrap, ctx.signal);
}

export function compileRows(rows: ScoreRow[], bootstrap: number, signal?: AbortSignal): Compiled {
  const bySubject = new Map<string, number[]>();
  const byStudent = new Map<string, Record<string, number>>();
  for (const r of rows) {
    (bySubject.get(r.subject) ?? bySubject.set(r.subject, []).get(r.subject)!).push(r.score);
    const s = byStudent.get(r.student) ?? byStudent.set(r.student, {}).get(r.student)!;
    s[r.subject] = r.score;
  }
  const subjects = [...bySubject]
    .map(([subject, scores]) => subjectStats(subject, scores))
    .sort((a, b) => a.subject.localeCompare(b.subject));
  const students = [...byStudent].map(([student, scores]) => {
    const values = Object.values(scores);
    const total = sum(values);
    const average = round(total / values.length);
    return { student, total: round(total), average, grade: grade(average), rank: 0, scores };
  });
  students.sort((a, b) => b.average - a.average || a.student.localeCompare(b.student));
  students.forEach((s, i) => {
    // Equal averages share a rank.
    s.rank = i > 0 && students[i - 1]!.average === s.average ? students[i - 1]!.rank : i + 1;
  });
  const averages = students.map((s) => s.average);
  return { rows: rows.length, subjects, students, classMean: classMean(averages, bootstrap, signal) };
}

function subjectStats(subject: string, scores: number[]): SubjectStats {
  const mean = sum(scores) / scores.length;
  const variance = sum(scores.map((x) => (x - mean) ** 2)) / scores.length;
  return {
    subject,
    count: scores.length,
    mean: round(mean),
    min: Math.min(...scores),
    max: Math.max(...scores),
    stdev: round(Math.sqrt(variance)),
  };
}

/** Percentile bootstrap of the mean with a seeded generator, so a result can be reproduced. */
function classMean(values: number[], resamples: number, signal?: AbortSignal): Compiled['classMean'] {
  const mean = round(sum(values) / Math.max(1, values.length));
  if (resamples <= 0 || values.length === 0) return { mean, resamples: 0 };
  const rand = mulberry32(values.length * 7919 + resamples);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    // Cancellation is cooperative here; a lane timeout also terminates the thread.
    if ((b & 1023) === 0 && signal?.aborted) throw signal.reason;
    let total = 0;
    for (let i = 0; i < values.length; i++) total += values[Math.floor(rand() * values.length)]!;
    means[b] = total / values.length;
  }
  means.sort();
  return {
    mean,
    low: round(means[Math.floor(resamples * 0.025)]!),
    high: round(means[Math.min(resamples - 1, Math.floor(resamples * 0.975))]!),
    resamples,
  };
}

export function parseCsv(text: string): ScoreRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new Error('the CSV file is empty');
  const header = splitCsvLine(lines[0]!).map((h) => h.trim().toLowerCase());
  return rowsFrom(header, lines.slice(1).map(splitCsvLine), 'CSV');
}

export async function parseXlsx(bytes: Uint8Array): Promise<ScoreRow[]> {
  // Loaded on first use: a thread that only reads CSV never pays for the spreadsheet library.
  const { default: ExcelJS } = await import('exceljs');
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(Buffer.from(bytes) as unknown as import('exceljs').Buffer);
  const sheet = wb.worksheets[0];
  if (!sheet) throw new Error('the workbook has no sheet');
  const cells: string[][] = [];
  sheet.eachRow((row) => {
    const values = (row.values as unknown[])
      .slice(1)
      .map((v) =>
        v === null || v === undefined
          ? ''
          : String(typeof v === 'object' && 'result' in (v as object) ? (v as { result: unknown }).result : v),
      );
    cells.push(values);
  });
  if (cells.length === 0) throw new Error('the first sheet is empty');
  const header = cells[0]!.map((h) => h.trim().toLowerCase());
  return rowsFrom(header, cells.slice(1), 'XLSX');
}

function rowsFrom(header: string[], records: string[][], kind: string): ScoreRow[] {
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0)
      throw new Error(`the ${kind} file has no "${name}" column (columns: ${header.join(', ')}); expected student, subject, score`);
    return i;
  };
  const [si, ji, ci] = [col('student'), col('subject'), col('score')];
  return records.map((r, n) => {
    const score = Number(r[ci]);
    if (!Number.isFinite(score)) throw new Error(`${kind} row ${n + 2}: score "${r[ci] ?? ''}" is not a number`);
    return { student: (r[si] ?? '').trim(), subject: (r[ji] ?? '').trim(), score };
  });
}

function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') out.push(cur), (cur = '');
    else cur += ch;
  }
  out.push(cur);
  return out;
}

function grade(average: number): string {
  return average >= 70 ? 'A' : average >= 60 ? 'B' : average >= 50 ? 'C' : average >= 45 ? 'D' : average >= 40 ? 'E' : 'F';
}

function sum(values: number[]): number {
  let t = 0;
  for (const v of values) t += v;
  return t;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
