import type { Registry } from 'prom-client';
import type { LaneStats } from '../../lanes/types.js';
import type { LoopSnapshot } from '../../runtime/loop-monitor.js';
import { countsAgainstProvider, type Last } from './provider-status.js';

/** How often the dashboard's charts get a point, and how many are kept (10 minutes). */
export const HISTORY_INTERVAL_MS = 2_000;
export const HISTORY_POINTS = 300;

/** The upstream latency histogram the orchestrator fills (one observation per successful attempt). */
const LATENCY_METRIC = 'tasklane_ai_upstream_latency_seconds';
/** Upstream calls that answered and that failed (by kind), per provider, model and key index. */
const OK_METRIC = 'tasklane_ai_requests_total';
const FAIL_METRIC = 'tasklane_ai_failures_total';

/**
 * `GET /v1/admin/history`: the last minutes as columns (uPlot's shape), one entry per sample.
 * A value is `null` where nothing was measured (no lane task finished, no upstream call answered).
 */
export interface HistorySeries {
  intervalMs: number;
  /** Epoch seconds of each sample. */
  at: number[];
  /** Event-loop delay (ms) over the loop monitor's window at each sample. */
  loop: { p50: number[]; p99: number[]; max: number[] };
  /** Lane tasks finished per second (completed, failed or timed out) since the previous sample. */
  lanes: Record<string, Array<number | null>>;
  /** Mean upstream latency (ms) per provider of the attempts that answered since the previous sample. */
  latencyMs: Record<string, Array<number | null>>;
}

interface Sample {
  at: number;
  loop: LoopSnapshot['delayMs'];
  lanes: Record<string, number | null>;
  latency: Record<string, number | null>;
}

export interface HistorySource {
  loop: { snapshot(): LoopSnapshot };
  metrics: Registry;
  lanes?: { stats(): Record<string, LaneStats> };
}

/**
 * Samples the loop, the lanes and the upstream latency every `intervalMs` into a fixed ring, so a
 * page opened now still shows the last minutes. The timer is unref'd; `stop()` ends it.
 */
export class DashboardHistory {
  readonly #source: HistorySource;
  readonly #intervalMs: number;
  readonly #capacity: number;
  readonly #samples: Sample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastAt = 0;
  #lastDone = new Map<string, number>();
  #lastLatency = new Map<string, { sum: number; count: number }>();
  /** Counter values at the previous sample, by label set. */
  #lastCounts = new Map<string, number>();
  /** What the counters said last about each provider (every attempt, also those a fallback hid). */
  readonly #outcomes = new Map<string, Last>();
  #sampling: Promise<void> | undefined;

  constructor(source: HistorySource, options: { intervalMs?: number; capacity?: number } = {}) {
    this.#source = source;
    this.#intervalMs = options.intervalMs ?? HISTORY_INTERVAL_MS;
    this.#capacity = options.capacity ?? HISTORY_POINTS;
  }

  start(): void {
    if (this.#timer) return;
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Takes one sample now (the timer calls this; overlapping calls share one). */
  sample(): Promise<void> {
    this.#sampling ??= this.#take().finally(() => {
      this.#sampling = undefined;
    });
    return this.#sampling;
  }

  series(): HistorySeries {
    const laneNames = new Set<string>();
    const providers = new Set<string>();
    for (const s of this.#samples) {
      for (const k of Object.keys(s.lanes)) laneNames.add(k);
      for (const k of Object.keys(s.latency)) providers.add(k);
    }
    const col = (names: Set<string>, pick: (s: Sample) => Record<string, number | null>) =>
      Object.fromEntries([...names].map((n) => [n, this.#samples.map((s) => pick(s)[n] ?? null)]));
    return {
      intervalMs: this.#intervalMs,
      at: this.#samples.map((s) => Math.round(s.at / 10) / 100),
      loop: {
        p50: this.#samples.map((s) => s.loop.p50),
        p99: this.#samples.map((s) => s.loop.p99),
        max: this.#samples.map((s) => s.loop.max),
      },
      lanes: col(laneNames, (s) => s.lanes),
      latencyMs: col(providers, (s) => s.latency),
    };
  }

  async #take(): Promise<void> {
    const now = Date.now();
    const dt = this.#lastAt ? (now - this.#lastAt) / 1000 : 0;
    const lanes: Record<string, number | null> = {};
    for (const [name, s] of Object.entries(this.#source.lanes?.stats() ?? {})) {
      const done = s.completed + s.failed + s.timedOut;
      const before = this.#lastDone.get(name);
      lanes[name] = before === undefined || dt <= 0 ? null : round((done - before) / dt);
      this.#lastDone.set(name, done);
    }
    const latency = await this.#latency(this.#lastAt > 0);
    await this.#attempts(now);
    this.#lastAt = now;
    this.#samples.push({ at: now, loop: this.#source.loop.snapshot().delayMs, lanes, latency });
    if (this.#samples.length > this.#capacity) this.#samples.splice(0, this.#samples.length - this.#capacity);
  }

  /**
   * The latest outcome per provider as the AI metrics tell it: a success or a failure counted since
   * the previous sample. This sees every attempt, also a failed one that a fallback turned into a
   * success (the request log only lists the attempts of requests that failed). Within one sample,
   * a success and a failure both seen read as a success.
   */
  outcomes(): ReadonlyMap<string, Last> {
    return this.#outcomes;
  }

  async #attempts(now: number): Promise<void> {
    for (const [name, ok] of [
      [OK_METRIC, true],
      [FAIL_METRIC, false],
    ] as const) {
      const metric = this.#source.metrics.getSingleMetric(name);
      if (!metric) continue;
      for (const v of (await metric.get()).values) {
        const { provider, key_index: keyIndex, kind } = v.labels as Record<string, string | undefined>;
        if (typeof provider !== 'string') continue;
        const id = `${name}\u0000${provider}\u0000${v.labels.model ?? ''}\u0000${keyIndex ?? ''}\u0000${kind ?? ''}`;
        const before = this.#lastCounts.get(id) ?? 0;
        this.#lastCounts.set(id, v.value);
        // The first sample counts too: calls made before the server started did happen.
        if (v.value <= before) continue;
        let last = this.#outcomes.get(provider);
        if (!last) this.#outcomes.set(provider, (last = { okAt: 0, okKeys: new Set() }));
        if (ok) {
          last.okAt = now;
          if (keyIndex !== undefined) last.okKeys.add(Number(keyIndex));
        } else if (countsAgainstProvider(kind)) {
          // One millisecond before a success seen in the same sample, so that one wins.
          last.fail = { at: now - 1, ...(kind ? { kind } : {}) };
        }
      }
    }
  }

  /** Mean latency per provider since the last sample, from the histogram's sum and count. */
  async #latency(hasBaseline: boolean): Promise<Record<string, number | null>> {
    const metric = this.#source.metrics.getSingleMetric(LATENCY_METRIC);
    if (!metric) return {};
    const totals = new Map<string, { sum: number; count: number }>();
    for (const v of (await metric.get()).values) {
      const provider = v.labels.provider;
      if (typeof provider !== 'string') continue;
      const name = (v as { metricName?: string }).metricName;
      const t = totals.get(provider) ?? { sum: 0, count: 0 };
      if (name === `${LATENCY_METRIC}_sum`) t.sum += v.value;
      else if (name === `${LATENCY_METRIC}_count`) t.count += v.value;
      else continue;
      totals.set(provider, t);
    }
    const out: Record<string, number | null> = {};
    for (const [provider, t] of totals) {
      const before = this.#lastLatency.get(provider) ?? { sum: 0, count: 0 };
      const n = t.count - before.count;
      out[provider] = hasBaseline && n > 0 ? round(((t.sum - before.sum) / n) * 1000) : null;
      this.#lastLatency.set(provider, t);
    }
    return out;
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
