import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { prepare } from '../../src/jobs/engines/sqlite/queries.js';
import { openSchema } from '../../src/jobs/engines/sqlite/schema.js';

/**
 * The query plan of every statement the SQLite engine prepares, pinned: each reads through an
 * index (or the primary key) in the order it needs, so its cost does not grow with the number of
 * jobs in the file. A new statement, or a plan the planner changes, fails here until it is
 * looked at. `SCAN jobs` (a walk of the whole table) is never allowed.
 */
const PLANS: Record<string, string[]> = {
  insertJob: [],
  byId: ['SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)'],
  ping: ['SCAN CONSTANT ROW'],
  // The ids asked about (a JSON array), each looked up by its key.
  lastSeqs: [
    'SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)',
    'LIST SUBQUERY 1',
    'SCAN json_each VIRTUAL TABLE INDEX 1:',
    'CREATE BLOOM FILTER',
  ],
  probe: [],
  prunable: ['SEARCH jobs USING INDEX jobs_finished (finished_at<?)'],
  deleteJob: ['SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)'],
  deleteEvents: ['SEARCH job_events USING PRIMARY KEY (job_id=?)'],
  byIdem: ['SEARCH jobs USING INDEX jobs_idem (idem_key=?)'],
  insertEvent: [],
  readEvents: ['SEARCH job_events USING PRIMARY KEY (job_id=? AND seq>?)'],
  readyHead: ['SEARCH jobs USING COVERING INDEX jobs_ready_task (task=?)'],
  dueDelayed: ['SEARCH jobs USING COVERING INDEX jobs_delayed_task (task=? AND run_at<?)'],
  promote: [
    'SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)',
    'LIST SUBQUERY 1',
    'SEARCH jobs USING COVERING INDEX jobs_delayed_task (task=? AND run_at<?)',
    'CREATE BLOOM FILTER',
  ],
  claim: ['SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)'],
  claimMany: [
    'SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)',
    'LIST SUBQUERY 1',
    'SEARCH jobs USING COVERING INDEX jobs_ready_task (task=?)',
    'CREATE BLOOM FILTER',
  ],
  // At most (tasks × states) rows.
  counts: ['SCAN job_counts'],
  renew: ['SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)'],
  finish: ['SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)'],
  release: ['SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)'],
  expired: ['SEARCH jobs USING INDEX jobs_lease (lease_until<?)'],
  recover: ['SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)'],
  cancelWaiting: ['SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)'],
  requestCancel: ['SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)'],
  retry: ['SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)'],
  appendHead: ['SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)'],
  'list.all': ['SEARCH jobs USING INTEGER PRIMARY KEY (rowid<?)'],
  'list.task': ['SEARCH jobs USING INDEX jobs_task (task=? AND n<?)'],
};
// 'held': jobs waiting for a per-task limit (engines/sqlite/limits.ts), listed with the queued ones.
for (const st of ['queued', 'delayed', 'running', 'waiting', 'succeeded', 'dead', 'cancelled', 'held']) {
  PLANS[`list.state.${st}`] = ['SEARCH jobs USING INDEX jobs_state (state=? AND n<?)'];
  PLANS[`list.both.${st}`] = ['SEARCH jobs USING INDEX jobs_task_state (task=? AND state=? AND n<?)'];
}

type Stmt = { source: string };

function statements(tree: Record<string, unknown>, prefix = ''): Array<[string, Stmt]> {
  return Object.entries(tree).flatMap(([k, v]) =>
    typeof (v as Stmt).source === 'string'
      ? [[prefix + k, v as Stmt] as [string, Stmt]]
      : statements(v as Record<string, unknown>, `${prefix}${k}.`),
  );
}

function planOf(db: Database.Database, source: string): string[] {
  const named = [...source.matchAll(/@(\w+)/g)].map((m) => m[1]!);
  const explain = db.prepare(`EXPLAIN QUERY PLAN ${source}`);
  if (named.length) return (explain.all(Object.fromEntries(named.map((n) => [n, 0]))) as Array<{ detail: string }>).map((r) => r.detail);
  // Positional: as many zeros as the statement takes.
  for (let n = 0; n < 20; n++) {
    try {
      return (explain.all(...Array(n).fill(0)) as Array<{ detail: string }>).map((r) => r.detail);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
    }
  }
  throw new Error(`cannot bind ${source}`);
}

describe('sqlite engine query plans', () => {
  for (const filled of [false, true]) {
    it(`every statement reads through an index (${filled ? 'after ANALYZE of a filled file' : 'a new file'})`, () => {
      const db = new Database(':memory:');
      openSchema(db, 1_000);
      if (filled) {
        // Statistics that tempt the planner: one task with a large backlog, few jobs elsewhere.
        const ins = db.prepare(
          `INSERT INTO jobs (id, task, state, input, max_attempts, created_at, updated_at, run_at) VALUES (?, ?, ?, 'null', 1, 0, 0, 0)`,
        );
        db.transaction(() => {
          for (let i = 0; i < 3_000; i++) ins.run(`j${i}`, i % 100 === 0 ? 'other' : 'big', i % 300 === 0 ? 'dead' : 'queued');
        })();
        db.exec('ANALYZE');
      }
      const plans = Object.fromEntries(
        statements(prepare(db) as unknown as Record<string, unknown>).map(([name, st]) => [name, planOf(db, st.source)]),
      );
      for (const [name, plan] of Object.entries(plans)) {
        for (const line of plan) expect(line, `${name}: ${line}`).not.toMatch(/^SCAN jobs\b|TEMP B-TREE/);
      }
      expect(plans).toEqual(PLANS);
      // An owner's lists (key, tenant or both; with or without task and state): its index, in list order.
      const q = prepare(db);
      for (const owner of [{ key: 'k' }, { tenant: 't' }, { key: 'k', tenant: 't' }]) {
        for (const state of [undefined, 'dead', 'queued'] as const) {
          for (const task of [undefined, 'big']) {
            const plan = planOf(db, q.list.owned(owner, task, state).source);
            const index = (owner.key !== undefined ? 'jobs_owner' : 'jobs_tenant') + (state ? '_state' : '');
            const search =
              owner.key !== undefined ? `owner_key=?${state ? ' AND state=?' : ''}` : `owner_tenant=?${state ? ' AND state=?' : ''}`;
            expect(plan, JSON.stringify({ owner, task, state })).toEqual([`SEARCH jobs USING INDEX ${index} (${search} AND n<?)`]);
          }
        }
      }
      db.close();
    });
  }

  it('the counters follow every change of state, insert and delete', () => {
    const db = new Database(':memory:');
    openSchema(db, 1_000);
    const ins = db.prepare(
      `INSERT INTO jobs (id, task, state, input, max_attempts, created_at, updated_at, run_at) VALUES (?, ?, ?, 'null', 1, 0, 0, 0)`,
    );
    for (let i = 0; i < 5; i++) ins.run(`a${i}`, 'a', 'queued');
    ins.run('b0', 'b', 'delayed');
    db.prepare(`UPDATE jobs SET state = 'running' WHERE id IN ('a0', 'a1')`).run();
    db.prepare(`UPDATE jobs SET state = 'succeeded' WHERE id = 'a0'`).run();
    db.prepare(`UPDATE jobs SET updated_at = 5 WHERE id = 'a2'`).run();
    db.prepare(`DELETE FROM jobs WHERE id = 'a0'`).run();
    const counts = db
      .prepare('SELECT task, state, sum(n) AS n FROM job_counts WHERE n > 0 GROUP BY task, state ORDER BY task, state')
      .all();
    const truth = db.prepare('SELECT task, state, count(*) AS n FROM jobs GROUP BY task, state ORDER BY task, state').all();
    expect(counts).toEqual(truth);
    expect(counts).toEqual([
      { task: 'a', state: 'queued', n: 3 },
      { task: 'a', state: 'running', n: 1 },
      { task: 'b', state: 'delayed', n: 1 },
    ]);
    db.close();
  });
});
