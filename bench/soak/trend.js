/**
 * A least-squares line through [x, y] points (x in minutes), and whether it shows no growth: the
 * rise the line predicts over the run is within twice the scatter around it, or under `floor` (a
 * size too small to matter whatever the noise). A falling line is no leak.
 */
export function fitTrend(points, { floor = 0 } = {}) {
  const n = points.length;
  const ys = points.map((p) => p[1]);
  const round = (v) => Math.round(v * 100) / 100;
  if (n < 3) return { n, first: ys[0], last: ys.at(-1), flat: true, note: 'too few samples for a trend' };
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = ys.reduce((a, y) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const residual = points.map(([x, y]) => y - (my + slope * (x - mx)));
  const sigma = Math.sqrt(residual.reduce((a, r) => a + r * r, 0) / Math.max(1, n - 2));
  const span = points[n - 1][0] - points[0][0];
  const growth = slope * span;
  return {
    n,
    first: round(ys[0]),
    last: round(ys[n - 1]),
    min: round(Math.min(...ys)),
    max: round(Math.max(...ys)),
    slopePerMin: round(slope),
    sigma: round(sigma),
    growth: round(growth),
    flat: growth <= Math.max(2 * sigma, floor),
  };
}
