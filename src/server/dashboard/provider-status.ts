import type { AiRequestEntry } from '../../ai/request-log.js';

/**
 * What the dashboard says about a provider, from its breakers, its keys and the last attempts the
 * request log saw. One rule above the rest: a key is never shown healthy while its provider has an
 * open breaker or its last call could not reach it.
 *
 * - `open`: a breaker of one of its targets is open and its retry time is still ahead.
 * - `probe`: a breaker is open but its retry time has passed: the next call goes through as the probe.
 * - `half-open`: the probe is in flight.
 * - `unreachable`: the latest attempt could not connect (refused, reset, DNS) or timed out.
 * - `failing`: the latest attempt failed with a server error.
 * - `down`: every key is disabled.
 * - `ok`: the latest attempt answered and no breaker is open.
 * - `idle`: nothing is known yet (no call since start).
 */
export type ProviderState = 'ok' | 'idle' | 'open' | 'probe' | 'half-open' | 'unreachable' | 'failing' | 'down';

/** A key's state on the page; `blocked` = the key itself is fine but its provider is not. */
/** `cooling` covers the key itself and any of its (key, model) pairs cooling or refused. */
export type KeyState = 'ok' | 'idle' | 'cooling' | 'disabled' | 'blocked';

export interface ProviderStatus {
  state: ProviderState;
  /** One line for a person, e.g. "breaker open until 12:03:04 UTC (5 failures)". */
  text: string;
  /** Epoch ms of the latest attempt seen, ok or not. */
  lastAttemptAt?: number;
  lastError?: { at: number; kind?: string; status?: number; code?: string };
}

export interface StatusInput {
  name: string;
  /** `models`: (key, model) pairs cooling after a 429 or refused after a 403. */
  keys: Array<{
    index: number;
    disabled: boolean;
    coolingUntil?: number;
    models?: Array<{ coolingUntil?: number; refusedUntil?: number }>;
  }>;
}

export interface BreakerInput {
  target: string;
  state: string;
  failures: number;
  retryAt?: number;
}

/** Kinds of failure that mean the provider could not be reached at all. */
const UNREACHABLE = new Set(['connect', 'reset', 'timeout', 'timeout-connect', 'timeout-first-byte', 'timeout-idle', 'timeout-total']);
/** Kinds that say nothing about the provider's health (the caller's request or our own abort). */
const NEUTRAL = new Set(['aborted', 'bad_request', 'context_length', 'content_filter', 'rate_limit', 'auth']);

/** Whether a failure of this kind says something about the provider's health. */
export function countsAgainstProvider(kind: string | undefined): boolean {
  return !(kind && NEUTRAL.has(kind));
}

/** The latest outcome known for a provider: from the request log, or from the AI metrics (history.ts). */
export interface Last {
  okAt: number;
  okKeys: Set<number>;
  fail?: { at: number; kind?: string; status?: number; code?: string };
}

/** Both views of the latest outcomes, the newer fact winning per provider. */
export function mergeOutcomes(a: Map<string, Last>, b: ReadonlyMap<string, Last>): Map<string, Last> {
  const out = new Map(a);
  for (const [p, l] of b) {
    const m = out.get(p);
    if (!m) {
      out.set(p, { okAt: l.okAt, okKeys: new Set(l.okKeys), ...(l.fail ? { fail: l.fail } : {}) });
      continue;
    }
    const fail = !m.fail ? l.fail : !l.fail ? m.fail : l.fail.at > m.fail.at ? l.fail : m.fail;
    out.set(p, { okAt: Math.max(m.okAt, l.okAt), okKeys: new Set([...m.okKeys, ...l.okKeys]), ...(fail ? { fail } : {}) });
  }
  return out;
}

/** The latest outcome per provider in the log (newest entries first). */
export function lastOutcomes(entries: readonly AiRequestEntry[]): Map<string, Last> {
  const out = new Map<string, Last>();
  const get = (p: string): Last => {
    let l = out.get(p);
    if (!l) out.set(p, (l = { okAt: 0, okKeys: new Set() }));
    return l;
  };
  for (const e of entries) {
    const end = e.at + (e.durationMs ?? e.latencyMs);
    if (e.outcome !== 'error' && e.provider && e.cache !== 'hit') {
      const l = get(e.provider);
      l.okAt = Math.max(l.okAt, end);
      if (e.keyIndex !== undefined) l.okKeys.add(e.keyIndex);
    }
    for (const f of e.failures) {
      if (!countsAgainstProvider(f.kind)) continue;
      const l = get(f.provider);
      if (!l.fail || l.fail.at < end)
        l.fail = {
          at: end,
          ...(f.kind ? { kind: f.kind } : {}),
          ...(f.status !== undefined ? { status: f.status } : {}),
          ...(f.code ? { code: f.code } : {}),
        };
    }
  }
  return out;
}

export function providerStatus(
  p: StatusInput,
  breakers: readonly BreakerInput[],
  last: Last | undefined,
  now = Date.now(),
): ProviderStatus {
  const mine = breakers.filter((b) => b.target.startsWith(`${p.name}/`));
  const base: Pick<ProviderStatus, 'lastAttemptAt' | 'lastError'> = {};
  const lastAt = Math.max(last?.okAt ?? 0, last?.fail?.at ?? 0);
  if (lastAt > 0) base.lastAttemptAt = lastAt;
  if (last?.fail) base.lastError = last.fail;

  const open = mine.filter((b) => b.state === 'open');
  const waiting = open.filter((b) => (b.retryAt ?? 0) > now);
  if (waiting.length > 0) {
    const soonest = waiting.reduce((a, b) => ((a.retryAt ?? 0) <= (b.retryAt ?? 0) ? a : b));
    return {
      state: 'open',
      text: `breaker open on ${targetList(waiting)} until ${utc(soonest.retryAt!)} (${soonest.failures} failures)`,
      ...base,
    };
  }
  if (open.length > 0) return { state: 'probe', text: `breaker open on ${targetList(open)}: probe on next call`, ...base };
  const half = mine.filter((b) => b.state === 'half-open');
  if (half.length > 0) return { state: 'half-open', text: `breaker half-open on ${targetList(half)}: probe in flight`, ...base };
  if (p.keys.length > 0 && p.keys.every((k) => k.disabled))
    return { state: 'down', text: 'every key is disabled (refused by the provider)', ...base };
  const fail = last?.fail;
  if (fail && fail.at >= (last?.okAt ?? 0)) {
    const why = fail.status !== undefined ? `answered ${fail.status}` : (fail.kind ?? fail.code ?? 'failed');
    if (fail.kind && UNREACHABLE.has(fail.kind))
      return {
        state: 'unreachable',
        text: `unreachable: last call ${fail.kind === 'connect' ? 'could not connect' : why} at ${utc(fail.at)}`,
        ...base,
      };
    return { state: 'failing', text: `last call failed (${why}) at ${utc(fail.at)}`, ...base };
  }
  if (last && last.okAt > 0) return { state: 'ok', text: `last call answered at ${utc(last.okAt)}`, ...base };
  return { state: 'idle', text: 'no call since start', ...base };
}

/** A key's state: its own trouble first, then its provider's; green only when both are fine. */
export function keyState(key: StatusInput['keys'][number], provider: ProviderStatus, last: Last | undefined, now = Date.now()): KeyState {
  if (key.disabled) return 'disabled';
  if (key.coolingUntil !== undefined && key.coolingUntil > now) return 'cooling';
  // A pair cooling or refused: the key serves other models, but not all of what it is asked for.
  if (key.models?.some((m) => (m.coolingUntil ?? 0) > now || (m.refusedUntil ?? 0) > now)) return 'cooling';
  if (provider.state !== 'ok' && provider.state !== 'idle') return 'blocked';
  return last?.okKeys.has(key.index) ? 'ok' : 'idle';
}

function targetList(bs: readonly BreakerInput[]): string {
  return bs.map((b) => b.target).join(', ');
}

function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}
