// Formatting: ages, durations, clock times, job ids, numbers and JSON, all pure.

export function age(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** "3s ago" / "in 5s". */
export function ago(epochMs, now = Date.now()) {
  const d = now - epochMs;
  return d >= 0 ? `${age(d)} ago` : `in ${age(-d)}`;
}

/** A run time: 850 ms, 12.3 s, 4m 5s. */
export function duration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return age(ms);
}

/** Offset of an event from the first one of its job: +0.000 s, +12.345 s, +2m 3s. */
export function offset(ms) {
  if (ms < 60_000) return `+${(Math.max(0, ms) / 1000).toFixed(3)} s`;
  return `+${age(ms)}`;
}

export function num(n, digits = 1) {
  return typeof n === 'number' && Number.isFinite(n) ? n.toFixed(digits) : '–';
}

export function clock(epochMs) {
  return new Date(epochMs).toLocaleTimeString();
}

export function fullTime(epochMs) {
  return new Date(epochMs).toISOString();
}

/**
 * The part of a job id a person can tell apart. UUIDv7 ids begin with their creation time, so
 * jobs made together share the first 8-12 characters: show the random tail instead.
 */
export function idTail(id) {
  if (typeof id !== 'string') return '';
  return id.length > 12 ? `…${id.slice(-8)}` : id;
}

/**
 * JSON for people: small values on one line with spaces (`{ "step": 1, "of": 10 }`), larger ones
 * indented. Both parse back to the same value.
 */
export function prettyJson(value, width = 120) {
  if (value === undefined) return '';
  const flat = JSON.stringify(value);
  if (flat === undefined) return String(value);
  const spaced = oneLine(value);
  if (spaced.length <= width) return spaced;
  return JSON.stringify(value, null, 2);
}

function oneLine(value) {
  if (Array.isArray(value)) return value.length ? `[${value.map(oneLine).join(', ')}]` : '[]';
  if (value && typeof value === 'object') {
    const parts = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}: ${oneLine(v)}`);
    return parts.length ? `{ ${parts.join(', ')} }` : '{}';
  }
  return JSON.stringify(value) ?? 'null';
}

/** Percent done from a progress payload: {step, of}, {done, total}, {percent}, {pct} or {ratio}. */
export function percentOf(data) {
  if (!data || typeof data !== 'object') return undefined;
  const pairs = [
    ['step', 'of'],
    ['done', 'total'],
    ['current', 'total'],
    ['completed', 'total'],
    ['iteration', 'maxIterations'],
  ];
  for (const [a, b] of pairs) {
    if (typeof data[a] === 'number' && typeof data[b] === 'number' && data[b] > 0) return clampPct((data[a] / data[b]) * 100);
  }
  for (const k of ['percent', 'pct']) if (typeof data[k] === 'number') return clampPct(data[k]);
  for (const k of ['ratio', 'fraction']) if (typeof data[k] === 'number') return clampPct(data[k] * 100);
  return undefined;
}

function clampPct(p) {
  return Math.max(0, Math.min(100, Math.round(p)));
}
