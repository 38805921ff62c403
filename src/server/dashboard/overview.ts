import type { AiHealth } from '../../ai/orchestrator.js';
import type { AiRequestEntry } from '../../ai/request-log.js';
import { JOB_STATES, type JobState, type JobSystem, type ListQuery } from '../../jobs/types.js';
import type { LaneStats } from '../../lanes/types.js';
import type { LoopSnapshot } from '../../runtime/loop-monitor.js';
import type { DashboardSource } from './source.js';
import { keyState, lastOutcomes, mergeOutcomes, providerStatus, type Last, type KeyState, type ProviderStatus } from './provider-status.js';

/**
 * Job counts come from the engine's counters when it keeps them (exact, `more: false`); else they
 * are read as one page per state, and a state with more jobs than this shows `more: true`. Kept
 * small: the page polls every 2 s and each row is parsed JSON.
 */
export const COUNT_CAP = 100;

const STATES: readonly JobState[] = JOB_STATES;

export interface KeyView {
  index: number;
  coolingUntil?: number;
  disabled: boolean;
  disabledReason?: string;
  /** Next re-probe of a key disabled by a 401. */
  reprobeAt?: number;
  inFlight: number;
  /** (key, model) pairs cooling (429) or refused (403) right now; absent when none. */
  models?: Array<{ model: string; coolingUntil?: number; refusedUntil?: number; refusedReason?: string }>;
  /** What the page shows for the key: never `ok` while its provider is unwell (see provider-status.ts). */
  state: KeyState;
}

/** What `GET /v1/admin/overview` answers. A subsystem the runtime lacks is `null`. Never a key, only key indexes. */
export interface Overview {
  at: number;
  uptimeS: number;
  loop: LoopSnapshot;
  lanes: Record<string, LaneStats> | null;
  ai: { providers: Array<{ name: string; type: string; status: ProviderStatus; keys: KeyView[] }>; breakers: AiHealth['breakers'] } | null;
  /** `byTask`: counts per task and state, when the engine keeps counters (absent states are 0). */
  jobs: {
    counts: Record<JobState, { count: number; more: boolean }>;
    tasks: Array<{ name: string; lane: string }>;
    byTask?: Record<string, Partial<Record<JobState, number>>>;
  } | null;
}

/**
 * `owner`: count only this owner's jobs (the caller's view, server/ownership.ts); unset = every job.
 * `recent`: the AI request log, newest first (the last attempts tell an unreachable provider).
 */
export async function buildOverview(
  runtime: DashboardSource,
  options: { owner?: ListQuery['owner']; recent?: readonly AiRequestEntry[]; counted?: ReadonlyMap<string, Last> } = {},
): Promise<Overview> {
  const { lanes, ai, jobs } = runtime;
  return {
    at: Date.now(),
    uptimeS: Math.round(process.uptime()),
    loop: runtime.loop.snapshot(),
    lanes: lanes ? lanes.stats() : null,
    ai: ai ? aiView(ai.health(), runtime.scrub, options.recent ?? [], options.counted) : null,
    jobs: jobs ? await jobsView(jobs, options.owner) : null,
  };
}

/** Copies field by field so nothing but indexes and timings leaves (the pool holds the keys themselves). */
function aiView(
  health: AiHealth,
  scrub: (text: string) => string,
  recent: readonly AiRequestEntry[],
  counted?: ReadonlyMap<string, Last>,
): NonNullable<Overview['ai']> {
  const now = Date.now();
  const last = counted ? mergeOutcomes(lastOutcomes(recent), counted) : lastOutcomes(recent);
  return {
    providers: health.providers.map((p) => {
      const status = providerStatus(p, health.breakers, last.get(p.name), now);
      const keys = p.keys.map((k) => {
        const view: KeyView = {
          index: k.index,
          disabled: k.disabled,
          inFlight: k.inFlight,
          state: keyState(k, status, last.get(p.name), now),
        };
        if (k.coolingUntil !== undefined) view.coolingUntil = k.coolingUntil;
        if (k.disabledReason !== undefined) view.disabledReason = scrub(k.disabledReason);
        if (k.reprobeAt !== undefined) view.reprobeAt = k.reprobeAt;
        if (k.models.length > 0) {
          view.models = k.models.map((m) => ({
            model: m.model,
            ...(m.coolingUntil !== undefined ? { coolingUntil: m.coolingUntil } : {}),
            ...(m.refusedUntil !== undefined ? { refusedUntil: m.refusedUntil } : {}),
            ...(m.refusedReason !== undefined ? { refusedReason: scrub(m.refusedReason) } : {}),
          }));
        }
        return view;
      });
      return { name: p.name, type: p.type, status, keys };
    }),
    breakers: health.breakers.map((b) => ({
      target: b.target,
      state: b.state,
      failures: b.failures,
      ...(b.retryAt ? { retryAt: b.retryAt } : {}),
    })),
  };
}

async function jobsView(
  jobs: Pick<JobSystem, 'list' | 'tasks' | 'counts'>,
  owner: ListQuery['owner'],
): Promise<NonNullable<Overview['jobs']>> {
  const counts = {} as Record<JobState, { count: number; more: boolean }>;
  // Counters when the engine keeps them (a few rows, whatever the backlog); else one capped page per state.
  const kept = await jobs.counts?.(owner);
  if (kept) {
    for (const state of STATES) counts[state] = { count: kept.states[state] ?? 0, more: false };
    return { counts, tasks: jobs.tasks(), byTask: kept.tasks };
  }
  const pages = await Promise.all(
    STATES.map((state) => jobs.list(owner ? { state, limit: COUNT_CAP, owner } : { state, limit: COUNT_CAP })),
  );
  STATES.forEach((state, i) => {
    counts[state] = { count: pages[i]!.jobs.length, more: pages[i]!.next !== undefined };
  });
  return { counts, tasks: jobs.tasks() };
}
