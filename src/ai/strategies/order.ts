import type { TargetStats } from './target-stats.js';

export type Strategy = 'ordered' | 'weighted' | 'least-busy' | 'latency';

/** What a strategy reads of a target (a RouteTarget has it). */
export interface Ranked {
  id: string;
  weight?: number;
}

/** Share of `latency` picks that try another target first, so a target that got faster is seen again. */
export const EXPLORE = 0.05;

/**
 * The order in which a request tries a route's targets. The attempt loop walks it and skips what
 * the failure policy rules out (cooling keys, open breakers, targets done with), so a strategy
 * only ranks; it never lets a call through that the policy would stop.
 *
 * - ordered: route order.
 * - weighted: a weighted random order (Efraimidis-Spirakis keys u^(1/w)): the first usable
 *   target is chosen in proportion to its weight among the usable ones.
 * - least-busy: fewest calls in flight first, ties in random order.
 * - latency: lowest moving average of time to first token first; targets with no sample yet
 *   come first (so each is measured), and 5 % of calls try the rest in random order.
 */
export function orderTargets<T extends Ranked>(
  strategy: Strategy,
  targets: readonly T[],
  stats: TargetStats,
  random: () => number = Math.random,
): readonly T[] {
  if (strategy === 'ordered' || targets.length < 2) return targets;
  if (strategy === 'weighted') return rank(targets, (t) => -(random() ** (1 / (t.weight ?? 1))));
  if (strategy === 'least-busy') {
    const tie = new Map(targets.map((t) => [t.id, random()]));
    return rank(targets, (t) => stats.inFlight(t.id) + tie.get(t.id)! * 0.5);
  }
  if (random() < EXPLORE) {
    const r = new Map(targets.map((t) => [t.id, random()]));
    return rank(targets, (t) => r.get(t.id)!);
  }
  return rank(targets, (t) => stats.ttftMs(t.id) ?? -1);
}

function rank<T extends Ranked>(targets: readonly T[], score: (t: T) => number): T[] {
  const scored = targets.map((t) => ({ t, s: score(t) }));
  scored.sort((a, b) => a.s - b.s);
  return scored.map((x) => x.t);
}

/**
 * The targets in the order one pick walks them: the route's strategy, with a target being retried
 * (a transient failure, not done with) first, so it is retried before the next one is tried.
 */
export function candidates<T extends Ranked>(
  strategy: Strategy,
  targets: readonly T[],
  stats: TargetStats,
  retried: (id: string) => boolean,
): readonly T[] {
  if (strategy === 'ordered') return targets;
  const ranked = orderTargets(strategy, targets, stats);
  const again = ranked.filter((t) => retried(t.id));
  return again.length === 0 ? ranked : [...again, ...ranked.filter((t) => !again.includes(t))];
}
