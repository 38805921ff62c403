import { LRUCache } from 'lru-cache';

/** Weight of the newest sample in the moving average of time to first token. */
export const LATENCY_ALPHA = 0.3;

interface Stat {
  inFlight: number;
  /** Decayed moving average of time to first token, in ms; undefined before the first sample. */
  ttftMs?: number;
}

/**
 * What the routing strategies read, per target (`provider/model`): calls in flight (least-busy)
 * and a decayed moving average of the time to first token (latency). In this process only:
 * each server of a fleet balances the calls it makes. Bounded like the other per-target maps.
 */
export class TargetStats {
  readonly #stats: LRUCache<string, Stat>;

  constructor(max = 10_000) {
    this.#stats = new LRUCache<string, Stat>({ max });
  }

  inFlight(id: string): number {
    return this.#stats.get(id)?.inFlight ?? 0;
  }

  ttftMs(id: string): number | undefined {
    return this.#stats.get(id)?.ttftMs;
  }

  begin(id: string): void {
    this.#stat(id).inFlight++;
  }

  end(id: string): void {
    const s = this.#stats.get(id);
    if (s && s.inFlight > 0) s.inFlight--;
  }

  /** One time-to-first-token sample: new = alpha * sample + (1 - alpha) * old. */
  observe(id: string, ms: number): void {
    const s = this.#stat(id);
    s.ttftMs = s.ttftMs === undefined ? ms : LATENCY_ALPHA * ms + (1 - LATENCY_ALPHA) * s.ttftMs;
  }

  #stat(id: string): Stat {
    let s = this.#stats.get(id);
    if (!s) {
      s = { inFlight: 0 };
      this.#stats.set(id, s);
    }
    return s;
  }
}

/** One attempt's bookkeeping: in flight until end(); firstToken() samples the latency once. */
export function trackAttempt(stats: TargetStats, id: string): { firstToken(): void; end(): void } {
  const t0 = performance.now();
  let sampled = false;
  stats.begin(id);
  return {
    firstToken() {
      if (!sampled) stats.observe(id, performance.now() - t0);
      sampled = true;
    },
    end() {
      stats.end(id);
    },
  };
}
