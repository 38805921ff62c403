import { fileURLToPath } from 'node:url';
import type { ConfigInput } from '../../src/index.js';
import type { JobEvent, JobRecord } from '../../src/jobs/types.js';
import type { Runtime } from '../../src/create-runtime.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';

export const TASKS_MODULE = fileURLToPath(new URL('../fixtures/jobs/tasks.ts', import.meta.url));

/** A started runtime with the fixture tasks and a loop lane "jobs". */
export async function jobsRuntime(config: ConfigInput = {}): Promise<TestRuntime> {
  const t = await testRuntime({
    lanes: { jobs: { placement: 'loop', concurrency: 4, maxQueue: 100, timeoutMs: 30_000 }, data: { concurrency: 2 } },
    ...config,
    jobs: { pollMs: 50, leaseMs: 2_000, cancelGraceMs: 300, modules: [TASKS_MODULE], ...(config.jobs ?? {}) },
  });
  await t.runtime.start();
  return t;
}

/** Collects a job's events until its stream ends (bounded by `timeoutMs`). */
export async function collect(runtime: Runtime, id: string, fromSeq = 0, timeoutMs = 20_000): Promise<JobEvent[]> {
  const signal = AbortSignal.timeout(timeoutMs);
  const events: JobEvent[] = [];
  for await (const e of runtime.jobs.subscribe(id, fromSeq, { signal })) events.push(e);
  if (signal.aborted) throw new Error(`stream of job ${id} did not end within ${timeoutMs} ms; got ${events.map((e) => e.type).join(',')}`);
  return events;
}

/** Polls until the job reaches one of the states. */
export async function waitFor(runtime: Runtime, id: string, states: JobRecord['state'][], timeoutMs = 20_000): Promise<JobRecord> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const job = await runtime.jobs.get(id);
    if (job && states.includes(job.state)) return job;
    if (Date.now() > until) throw new Error(`job ${id} is ${job?.state}, not ${states.join('|')}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function expectConsecutive(events: JobEvent[], from = 1): void {
  events.forEach((e, i) => {
    if (e.seq !== from + i) throw new Error(`event ${i} has seq ${e.seq}, expected ${from + i}`);
  });
}
