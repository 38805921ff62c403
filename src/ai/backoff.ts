/**
 * Delay before retry number `retry` (1 = first retry) of a target that just failed: exponential,
 * capped at `maxMs`, with "equal jitter" (half fixed, half random) so retries from many callers
 * spread out without ever collapsing to zero.
 */
export function backoffMs(retry: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  if (baseMs <= 0 || retry <= 0) return 0;
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(retry - 1, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
