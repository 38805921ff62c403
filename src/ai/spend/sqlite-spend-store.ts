import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  MemoryTokenWindows,
  periodsOf,
  type JobCost,
  type Reservation,
  type SpendCharge,
  type SpendRow,
  type SpendScope,
  type SpendStore,
} from './spend-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tl_spend (
  period TEXT NOT NULL,
  subject TEXT NOT NULL,
  usd REAL NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0,
  requests INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (period, subject)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tl_job_cost (
  job_id TEXT NOT NULL,
  step TEXT NOT NULL,
  usd REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, step)
) WITHOUT ROWID;
`;

/** Charges not written yet: `period|scope:name` → figures (a period never holds '|'), and job → step → USD ('' = the whole job). */
interface Pending {
  spend: Map<string, { usd: number; tokens: number; requests: number }>;
  jobs: Map<string, Map<string, number>>;
}

/**
 * Spend in the embedded store: two tables beside the job engine's in the same database file, on
 * a connection of their own (WAL lets both write). Token windows stay in memory: one process
 * serves a SQLite store. Charges are grouped: added to a pending map at once (reads add it in, so
 * a budget sees every answer), written in one transaction per loop turn, and flushed on close.
 */
export class SqliteSpendStore implements SpendStore {
  readonly #db: Database.Database;
  readonly #add: Database.Statement;
  readonly #addJob: Database.Statement;
  readonly #get: Database.Statement;
  readonly #windows = new MemoryTokenWindows();
  readonly #write: (rows: Pending) => void;
  #pending: Pending = { spend: new Map(), jobs: new Map() };
  #flushing?: NodeJS.Immediate;

  readonly #onError: (err: Error) => void;

  /** `onError` hears a grouped write that failed (its charges are lost, the answers were not). */
  constructor(path: string, onError: (err: Error) => void = () => {}) {
    this.#onError = onError;
    mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(SCHEMA);
    this.#add = this.#db.prepare(
      `INSERT INTO tl_spend (period, subject, usd, tokens, requests) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (period, subject) DO UPDATE SET usd = usd + excluded.usd, tokens = tokens + excluded.tokens, requests = requests + excluded.requests`,
    );
    this.#addJob = this.#db.prepare(
      `INSERT INTO tl_job_cost (job_id, step, usd) VALUES (?, ?, ?) ON CONFLICT (job_id, step) DO UPDATE SET usd = usd + excluded.usd`,
    );
    this.#get = this.#db.prepare('SELECT usd FROM tl_spend WHERE period = ? AND subject = ?');
    this.#write = this.#db.transaction((rows: Pending) => {
      for (const [k, f] of rows.spend) {
        const bar = k.indexOf('|');
        this.#add.run(k.slice(0, bar), k.slice(bar + 1), f.usd, f.tokens, f.requests);
      }
      for (const [id, steps] of rows.jobs) for (const [step, usd] of steps) this.#addJob.run(id, step, usd);
    });
  }

  async charge(c: SpendCharge): Promise<void> {
    const { day, month } = periodsOf(c.at);
    const subjects = [`provider:${c.provider}`];
    if (c.key !== undefined) subjects.push(`key:${c.key}`);
    if (c.tenant !== undefined) subjects.push(`tenant:${c.tenant}`);
    const { spend, jobs } = this.#pending;
    for (const period of [day, month]) {
      for (const s of subjects) {
        const k = `${period}|${s}`;
        const f = spend.get(k);
        if (f) {
          f.usd += c.usd;
          f.tokens += c.tokens;
          f.requests++;
        } else spend.set(k, { usd: c.usd, tokens: c.tokens, requests: 1 });
      }
    }
    if (c.job) {
      let steps = jobs.get(c.job.id);
      if (!steps) jobs.set(c.job.id, (steps = new Map()));
      steps.set('', (steps.get('') ?? 0) + c.usd);
      if (c.job.step !== undefined) steps.set(c.job.step, (steps.get(c.job.step) ?? 0) + c.usd);
    }
    this.#flushing ??= setImmediate(() => {
      try {
        this.#flush();
      } catch (err) {
        this.#onError(err as Error);
      }
    });
  }

  /** Writes what is pending in one transaction. */
  #flush(): void {
    this.#flushing = undefined;
    const rows = this.#pending;
    if (rows.spend.size === 0 && rows.jobs.size === 0) return;
    this.#pending = { spend: new Map(), jobs: new Map() };
    this.#write(rows);
  }

  async spent(scope: 'key' | 'tenant', name: string, at: number): Promise<{ day: number; month: number }> {
    const { day, month } = periodsOf(at);
    const subject = `${scope}:${name}`;
    const read = (period: string) =>
      ((this.#get.get(period, subject) as { usd: number } | undefined)?.usd ?? 0) +
      (this.#pending.spend.get(`${period}|${subject}`)?.usd ?? 0);
    return { day: read(day), month: read(month) };
  }

  async report(at: number): Promise<SpendRow[]> {
    this.#flush();
    const { day, month } = periodsOf(at);
    const rows = this.#db
      .prepare('SELECT period, subject, usd, tokens, requests FROM tl_spend WHERE period IN (?, ?)')
      .all(day, month) as Array<{
      period: string;
      subject: string;
      usd: number;
      tokens: number;
      requests: number;
    }>;
    return collect(rows.map((r) => ({ ...r, isDay: r.period === day })));
  }

  async jobCost(jobId: string): Promise<JobCost | undefined> {
    this.#flush();
    const rows = this.#db.prepare('SELECT step, usd FROM tl_job_cost WHERE job_id = ?').all(jobId) as Array<{ step: string; usd: number }>;
    return jobCostOf(rows);
  }

  async reserveTokens(key: string, tokens: number, limit: number, at: number): Promise<Reservation> {
    return this.#windows.reserve(key, tokens, limit, at);
  }

  async settleTokens(key: string, window: number, reserved: number, used: number): Promise<void> {
    this.#windows.settle(key, window, reserved, used);
  }

  async close(): Promise<void> {
    if (!this.#db.open) return;
    clearImmediate(this.#flushing);
    this.#flush();
    this.#db.close();
  }
}

/** Rows of (period, `scope:name`, figures) → one row per subject with its day and month. */
export function collect(rows: Array<{ subject: string; isDay: boolean; usd: number; tokens: number; requests: number }>): SpendRow[] {
  const out = new Map<string, SpendRow>();
  for (const r of rows) {
    const colon = r.subject.indexOf(':');
    const scope = r.subject.slice(0, colon) as SpendScope;
    const name = r.subject.slice(colon + 1);
    let row = out.get(r.subject);
    if (!row) {
      row = { scope, name, day: { usd: 0, tokens: 0, requests: 0 }, month: { usd: 0, tokens: 0, requests: 0 } };
      out.set(r.subject, row);
    }
    row[r.isDay ? 'day' : 'month'] = { usd: r.usd, tokens: r.tokens, requests: r.requests };
  }
  return [...out.values()].sort((a, b) => a.scope.localeCompare(b.scope) || b.month.usd - a.month.usd || a.name.localeCompare(b.name));
}

export function jobCostOf(rows: Array<{ step: string; usd: number }>): JobCost | undefined {
  if (rows.length === 0) return undefined;
  const cost: JobCost = { usd: 0 };
  for (const r of rows) {
    if (r.step === '') cost.usd = r.usd;
    else (cost.steps ??= {})[r.step] = r.usd;
  }
  return cost;
}
