import type { JobRecord, JobState } from '../../types.js';

const json = (s: string | undefined): unknown => (s === undefined || s === '' ? undefined : JSON.parse(s));
const num = (s: string | undefined): number | undefined => (s === undefined || s === '' ? undefined : Number(s));

/** A hash returned flat by a Lua script (HGETALL inside the script) as an object. */
export function flatToHash(flat: string[]): Record<string, string> {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  return h;
}

/** Rebuilds a JobRecord from its hash (HGETALL); undefined when the hash is empty. */
export function hashToRecord(h: Record<string, string>): JobRecord | undefined {
  if (!h.id) return undefined;
  const record: JobRecord = {
    id: h.id,
    task: h.task!,
    state: h.state as JobState,
    input: json(h.input),
    attempt: Number(h.attempt ?? 0),
    maxAttempts: Number(h.maxAttempts ?? 1),
    priority: Number(h.priority ?? 0),
    createdAt: Number(h.createdAt),
    updatedAt: Number(h.updatedAt ?? h.createdAt),
    runAt: Number(h.runAt),
    lastSeq: Number(h.lastSeq ?? 0),
  };
  const result = json(h.result);
  if (result !== undefined) record.result = result;
  const error = json(h.error) as JobRecord['error'];
  if (error) record.error = error;
  if (h.idem) record.idempotencyKey = h.idem;
  const startedAt = num(h.startedAt);
  if (startedAt !== undefined) record.startedAt = startedAt;
  const finishedAt = num(h.finishedAt);
  if (finishedAt !== undefined) record.finishedAt = finishedAt;
  const progress = json(h.progress);
  if (progress !== undefined) record.progress = progress;
  if (h.workerId) record.workerId = h.workerId;
  if (h.parentId) record.parentId = h.parentId;
  const waitingFor = json(h.waitingFor) as JobRecord['waitingFor'];
  if (waitingFor) record.waitingFor = waitingFor;
  if (h.grp !== undefined) record.group = h.grp;
  if (h.ownerKey) record.owner = h.ownerTenant ? { key: h.ownerKey, tenant: h.ownerTenant } : { key: h.ownerKey };
  if (h.traceparent) record.traceparent = h.traceparent;
  return record;
}
