import type { Redis } from 'ioredis';
import type { JobEvent } from '../../types.js';

/**
 * A job's event stream in one Redis stream per job. Each entry's ID is `<seq>-0`, so Redis
 * itself keeps the order, refuses a seq at or below the last one (a stale writer cannot rewrite
 * history), and `XRANGE`/`XREAD` from `<seq>` mean "everything after seq".
 */

/** Entries a single XRANGE page returns. */
const PAGE = 500;

/**
 * Appends the events whose seq is above the stream's last one, in order; the rest are dropped
 * and counted. Returns { added, skipped }. Run as one script so a batch never lands half-way.
 */
const APPEND_LUA = `
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last = 0
if top[1] then last = tonumber(string.match(top[1][1], '^(%d+)')) end
local added, skipped = 0, 0
for i = 1, #ARGV, 5 do
  local seq = tonumber(ARGV[i])
  if seq > last then
    redis.call('XADD', KEYS[1], seq .. '-0', 't', ARGV[i + 1], 'd', ARGV[i + 2], 'a', ARGV[i + 3], 'n', ARGV[i + 4])
    last = seq
    added = added + 1
  else
    skipped = skipped + 1
  end
end
return { added, skipped }
`;

export type RawEntry = [id: string, fields: string[]];

export function eventKey(prefix: string, jobId: string): string {
  return `${prefix}:ev:${jobId}`;
}

/** Rebuilds a JobEvent from a stream entry. */
export function entryToEvent(jobId: string, [id, fields]: RawEntry): JobEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const event: JobEvent = {
    jobId,
    seq: Number(id.slice(0, id.indexOf('-'))),
    type: f.t as JobEvent['type'],
    data: f.d === undefined || f.d === '' ? null : JSON.parse(f.d),
    at: Number(f.a),
  };
  if (f.n !== undefined && f.n !== '') event.attempt = Number(f.n);
  return event;
}

export class EventLog {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
    if (!(redis as unknown as Record<string, unknown>).tlAppendEvents) {
      redis.defineCommand('tlAppendEvents', { numberOfKeys: 1, lua: APPEND_LUA });
    }
  }

  key(jobId: string): string {
    return eventKey(this.#prefix, jobId);
  }

  /** Persists a batch (any mix of jobs), each job's events in seq order. Returns how many were refused as stale. */
  async append(events: readonly JobEvent[]): Promise<{ added: number; skipped: number }> {
    if (events.length === 0) return { added: 0, skipped: 0 };
    const byJob = new Map<string, JobEvent[]>();
    for (const e of events) {
      let list = byJob.get(e.jobId);
      if (!list) byJob.set(e.jobId, (list = []));
      list.push(e);
    }
    const pipeline = this.#redis.pipeline();
    for (const [jobId, list] of byJob) {
      list.sort((a, b) => a.seq - b.seq);
      const args: string[] = [];
      for (const e of list) {
        args.push(
          String(e.seq),
          e.type,
          e.data === undefined ? '' : JSON.stringify(e.data),
          String(e.at),
          e.attempt === undefined ? '' : String(e.attempt),
        );
      }
      (pipeline as unknown as { tlAppendEvents(key: string, ...args: string[]): void }).tlAppendEvents(this.key(jobId), ...args);
    }
    const results = (await pipeline.exec()) ?? [];
    let added = 0;
    let skipped = 0;
    for (const [err, res] of results) {
      if (err) throw err;
      const [a, s] = res as [number, number];
      added += a;
      skipped += s;
    }
    return { added, skipped };
  }

  /** Events with seq > afterSeq, in order, at most `limit`. */
  async read(jobId: string, afterSeq = 0, limit = Number.POSITIVE_INFINITY): Promise<JobEvent[]> {
    const out: JobEvent[] = [];
    let start = `(${Math.max(0, afterSeq)}-0`;
    if (afterSeq <= 0) start = '-';
    while (out.length < limit) {
      const count = Math.min(PAGE, limit - out.length);
      const page = (await this.#redis.xrange(this.key(jobId), start, '+', 'COUNT', count)) as RawEntry[];
      for (const entry of page) out.push(entryToEvent(jobId, entry));
      if (page.length < count) break;
      start = `(${page[page.length - 1]![0]}`;
    }
    return out;
  }

  /** The last persisted seq (0 when none). */
  async lastSeq(jobId: string): Promise<number> {
    const top = (await this.#redis.xrevrange(this.key(jobId), '+', '-', 'COUNT', 1)) as RawEntry[];
    return top[0] ? Number(top[0][0].slice(0, top[0][0].indexOf('-'))) : 0;
  }

  /** Drops a job's events (when the job itself is removed). */
  async remove(jobId: string): Promise<void> {
    await this.#redis.unlink(this.key(jobId));
  }
}
