import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { workflowStatements } from '../../src/jobs/engines/sqlite/journal.js';
import { openSchema } from '../../src/jobs/engines/sqlite/schema.js';

/**
 * The workflow store's statements (journal, park/wake, signals, children) read through an index
 * or a primary key, never a walk of the jobs table or a temporary sort, on a new file and on a
 * filled one after ANALYZE: their cost does not grow with the number of jobs.
 */
function planOf(db: Database.Database, source: string): string[] {
  const named = [...new Set([...source.matchAll(/@(\w+)/g)].map((m) => m[1]!))];
  const explain = db.prepare(`EXPLAIN QUERY PLAN ${source}`);
  if (named.length) return (explain.all(Object.fromEntries(named.map((n) => [n, 0]))) as Array<{ detail: string }>).map((r) => r.detail);
  for (let n = 0; n < 20; n++) {
    try {
      return (explain.all(...Array(n).fill(0)) as Array<{ detail: string }>).map((r) => r.detail);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
    }
  }
  throw new Error(`cannot bind ${source}`);
}

describe('sqlite workflow store query plans', () => {
  for (const filled of [false, true]) {
    it(`every statement reads through an index (${filled ? 'after ANALYZE of a filled file' : 'a new file'})`, () => {
      const db = new Database(':memory:');
      openSchema(db, 1_000);
      if (filled) {
        const ins = db.prepare(
          `INSERT INTO jobs (id, task, state, input, max_attempts, created_at, updated_at, run_at, parent_id) VALUES (?, 't', ?, 'null', 1, 0, 0, ?, ?)`,
        );
        db.transaction(() => {
          for (let i = 0; i < 3_000; i++) ins.run(`j${i}`, i % 10 === 0 ? 'waiting' : 'succeeded', i, i % 3 === 0 ? 'j0' : null);
        })();
        db.exec('ANALYZE');
      }
      const q = workflowStatements(db);
      const names = Object.keys(q);
      expect(names.length).toBeGreaterThan(15);
      for (const name of names) {
        const plan = planOf(db, q[name]!);
        for (const line of plan) expect(line, `${name}: ${line}`).not.toMatch(/^SCAN (jobs|job_journal|job_signals)\b|TEMP B-TREE/);
      }
      expect(planOf(db, q.children!)).toEqual(['SEARCH jobs USING INDEX jobs_parent (parent_id=?)']);
      expect(planOf(db, q.due!)).toEqual(['SEARCH jobs USING INDEX jobs_waiting (run_at<?)']);
      db.close();
    });
  }
});
