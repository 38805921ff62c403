// bench/scale, SQLite side: the figures that must stay flat as one task's backlog grows, at one
// backlog size per call. Fills the file directly (one transaction; the engine's triggers keep the
// counters), then measures through the runtime (dist/).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { createRuntime, defineTask } from '../../dist/index.js';
import { SqliteJobEngine } from '../../dist/jobs/engines/sqlite/sqlite-engine.js';
import { buildOverview } from '../../dist/server/dashboard/overview.js';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t0) => performance.now() - t0;
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** N queued jobs of task `backlog`, plus 5 dead ones of task `rare`, written straight into the file. */
function fill(path, n) {
  new SqliteJobEngine({ path }).close();
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const ins = db.prepare(
    `INSERT INTO jobs (id, task, state, input, attempt, max_attempts, priority, created_at, updated_at, run_at, last_seq, error, finished_at)
     VALUES (?, ?, ?, '{"i":0}', 0, 3, 0, ?, ?, ?, 1, ?, ?)`,
  );
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < n; i++) ins.run(randomUUID(), 'backlog', 'queued', now, now, now, null, null);
    for (let i = 0; i < 5; i++) ins.run(randomUUID(), 'rare', 'dead', now, now, now, '{"code":"X","message":"x"}', now);
  })();
  db.close();
}

export async function sqliteScale(n, { seconds = 3 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-scale-'));
  const path = join(dir, 'jobs.db');
  const out = { engine: 'sqlite', backlog: n };
  try {
    let t0 = performance.now();
    fill(path, n);
    out.fill_s = round(ms(t0) / 1000, 1);

    // 1. Engine alone: a claim for a task with nothing queued, lists, counts.
    const engine = new SqliteJobEngine({ path });
    const idle = [];
    for (let i = 0; i < 30; i++) {
      t0 = performance.now();
      await engine.claim('w', { tasks: ['idle'], leaseMs: 10_000 });
      idle.push(ms(t0));
    }
    out.idle_claim_ms = round(median(idle), 3);
    const timeList = async (q) => {
      const xs = [];
      for (let i = 0; i < 15; i++) {
        t0 = performance.now();
        const page = await engine.list(q);
        xs.push(ms(t0));
        if (q.next === true && page.next) await engine.list({ ...q, cursor: page.next });
      }
      return round(median(xs), 3);
    };
    out.list_queued_5_ms = await timeList({ state: 'queued', limit: 5 });
    out.list_dead_ms = await timeList({ state: 'dead', limit: 50 });
    out.list_task_state_ms = await timeList({ task: 'rare', state: 'dead', limit: 50 });
    const deep = (await engine.list({ limit: 500 })).next;
    out.list_cursor_page_ms = await timeList({ limit: 50, cursor: deep });
    await engine.close();

    // 2. A runtime with the default config (demo lanes on) draining the backlog; meanwhile jobs of
    //    another lane: enqueue→start, the loop's worst stall, and the overview.
    const rt = await createRuntime({
      config: {
        data: dir,
        demo: true,
        log: { level: 'error' },
        store: { engine: 'sqlite', path },
        lanes: { bulk: { placement: 'loop', concurrency: 50 }, other: { placement: 'loop', concurrency: 4 } },
        jobs: { pollMs: 50 },
      },
      dotenv: false,
      cwd: dir,
    });
    let done = 0;
    const starts = new Map();
    rt.jobs.register(defineTask({ name: 'backlog', lane: 'bulk', run: () => void done++ }));
    rt.jobs.register(defineTask({ name: 'ping', lane: 'other', run: (input) => void starts.get(input.k)?.() }));
    const loop = monitorEventLoopDelay({ resolution: 1 });
    await rt.start();
    loop.enable();
    t0 = performance.now();
    const begin = done;
    const lat = [];
    const until = performance.now() + seconds * 1000;
    for (let k = 0; performance.now() < until; k++) {
      const started = new Promise((r) => starts.set(k, r));
      const e0 = performance.now();
      await rt.jobs.enqueue('ping', { k });
      await started;
      lat.push(ms(e0));
      await new Promise((r) => setTimeout(r, 20));
    }
    const drained = done - begin;
    out.drain_jobs_per_s = Math.round(drained / (ms(t0) / 1000));
    out.other_lane_start_p50_ms = round(median(lat), 2);
    out.worst_loop_stall_ms = round(loop.max / 1e6, 1);
    loop.disable();
    const ov = [];
    for (let i = 0; i < 10; i++) {
      t0 = performance.now();
      await buildOverview(rt);
      ov.push(ms(t0));
    }
    out.overview_ms = round(median(ov), 2);
    await rt.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
