/**
 * File work of the results compiler. It runs in the `io` lane (worker threads): synchronous file
 * calls and spreadsheet writing block only the thread they run on.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import ExcelJS from 'exceljs';
import type { Compiled } from './operations.js';

/** Writes a file atomically (temp file, then rename), so a reader never sees half of it. */
export function writeBytes(input: { path: string; bytes: Uint8Array }): { path: string; size: number } {
  mkdirSync(dirname(input.path), { recursive: true });
  const tmp = `${input.path}.${process.pid}.tmp`;
  writeFileSync(tmp, input.bytes);
  renameSync(tmp, input.path);
  return { path: input.path, size: input.bytes.byteLength };
}

/** Reads a whole file; a missing file answers null (the caller turns it into a 404). */
export function readBytes(input: { path: string }): Uint8Array | null {
  try {
    return readFileSync(input.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Builds the results workbook (Students, Subjects, Analysis) and writes it. */
export async function writeResultWorkbook(input: {
  path: string;
  compiled: Compiled;
  analysis: string | null;
}): Promise<{ path: string; size: number }> {
  const { compiled } = input;
  const wb = new ExcelJS.Workbook();
  wb.creator = 'tasklane results-compiler';
  const subjects = compiled.subjects.map((s) => s.subject);

  const students = wb.addWorksheet('Students');
  students.addRow(['rank', 'student', ...subjects, 'total', 'average', 'grade']);
  for (const s of compiled.students)
    students.addRow([s.rank, s.student, ...subjects.map((j) => s.scores[j] ?? null), s.total, s.average, s.grade]);

  const stats = wb.addWorksheet('Subjects');
  stats.addRow(['subject', 'count', 'mean', 'min', 'max', 'stdev']);
  for (const s of compiled.subjects) stats.addRow([s.subject, s.count, s.mean, s.min, s.max, s.stdev]);

  const analysis = wb.addWorksheet('Analysis');
  analysis.addRow(['class mean', compiled.classMean.mean]);
  if (compiled.classMean.low !== undefined) analysis.addRow(['95% interval', compiled.classMean.low, compiled.classMean.high]);
  analysis.addRow(['summary', input.analysis ?? '(no AI provider configured)']);

  const bytes = new Uint8Array(await wb.xlsx.writeBuffer());
  return writeBytes({ path: input.path, bytes });
}
