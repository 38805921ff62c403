import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { JobRecord, JobSystem, ListQuery } from '../../jobs/types.js';
import type { LIST_INCLUDABLE } from './job-schemas.js';

export type Includable = (typeof LIST_INCLUDABLE)[number];

/**
 * GET /v1/jobs as a JSON text, bounded in size and in loop time. Records leave out `input` and
 * `result` unless `include` names them; the page is read from the engine in small steps, each
 * record serialised on its own, with a turn of the event loop between steps, so a list of large
 * jobs never holds the loop for more than a step; once the text reaches `maxBytes` (about: it is
 * counted in UTF-16 units, and a read may pass it by one record) the page ends early with `next` where it stopped. A page always holds
 * at least one record, so a client paging with `next` always gets through.
 */
export async function boundedList(
  jobs: Pick<JobSystem, 'list'>,
  q: ListQuery & { include?: Set<Includable> },
  maxBytes: number,
): Promise<string> {
  const limit = q.limit ?? 50;
  const include = q.include ?? new Set<Includable>();
  const parts: string[] = [];
  let bytes = 0;
  let cursor = q.cursor;
  let next: string | undefined;
  // Records per engine read: one first, then doubled while reads are cheap, halved while one takes
  // more than a few ms, and never more than the budget left holds at the size seen so far (the
  // cursor is the engine's, so a page can end only where an engine read ended).
  let step = 1;
  const { include: _include, limit: _limit, cursor: _cursor, ...filters } = q;
  for (;;) {
    const t0 = performance.now();
    const page = await jobs.list({ ...filters, limit: Math.min(step, limit - parts.length), ...(cursor ? { cursor } : {}) });
    for (const job of page.jobs) {
      const text = JSON.stringify(project(job, include));
      parts.push(text);
      bytes += text.length + 1;
    }
    next = page.next;
    cursor = page.next;
    if (next === undefined || parts.length >= limit || bytes >= maxBytes) break;
    const ms = performance.now() - t0;
    step = ms > 4 ? Math.max(1, step >> 1) : ms < 1 ? Math.min(128, step * 2) : step;
    const average = bytes / parts.length;
    step = Math.max(1, Math.min(step, Math.floor((maxBytes - bytes) / average)));
    await yieldToLoop();
  }
  return `{"jobs":[${parts.join(',')}],"next":${next === undefined ? 'null' : JSON.stringify(next)}}`;
}

function project(job: JobRecord, include: Set<Includable>): Partial<JobRecord> {
  if (include.has('input') && include.has('result')) return job;
  const { input, result, ...rest } = job as JobRecord & { input?: unknown; result?: unknown };
  const out: Record<string, unknown> = rest;
  if (include.has('input') && input !== undefined) out.input = input;
  if (include.has('result') && result !== undefined) out.result = result;
  return out as Partial<JobRecord>;
}
