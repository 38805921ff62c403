import { type TasklaneError, withContext } from '../errors.js';

/**
 * Passes on at most one store error (`TL_ERR_STORE_*`) per code per window: a store outage fails
 * every write and renewal of every running job, and one line every few seconds says it as well as
 * thousands. The next one let through says how many were held back. Other errors pass as they are.
 */
export function throttleReports(report: (err: TasklaneError) => void, windowMs = 5_000): (err: TasklaneError) => void {
  const seen = new Map<string, { at: number; held: number }>();
  return (err) => {
    if (!err.code.startsWith('TL_ERR_STORE_')) return report(err);
    const now = performance.now();
    const last = seen.get(err.code);
    if (last && now - last.at < windowMs) {
      last.held++;
      return;
    }
    seen.set(err.code, { at: now, held: 0 });
    if (!last?.held) return report(err);
    report(withContext(err, `${err.message} (${last.held} more like it in the last ${Math.round((now - last.at) / 1000)} s)`));
  };
}
