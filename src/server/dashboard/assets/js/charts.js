// Line charts with uPlot (served from its npm package at /dashboard/vendor/). Each chart sizes
// itself to its box, rebuilds when its set of series changes, and carries `data-points` (the
// number of x values drawn) and a text summary for people who cannot see the canvas.
import uPlot from '../vendor/uplot.js';

const COLORS = ['#2f6fde', '#c2362f', '#1f8a4c', '#b7791f', '#7b4bc4', '#0e7c86', '#a3456f', '#4a5060'];
const HEIGHT = 170;

export class LineChart {
  /**
   * `box`: the element the chart lives in (its width is followed). `time`: x is epoch seconds.
   * `unit`: shown on the y axis and in the summary.
   */
  constructor(box, { time = true, unit = '', label = '', log = false } = {}) {
    this.box = box;
    this.time = time;
    this.unit = unit;
    this.label = label;
    this.log = log;
    this.plot = null;
    this.names = [];
    this.summary = box.parentElement?.querySelector('.chart-summary') ?? null;
    this.observer = new ResizeObserver(() => this.#resize());
    this.observer.observe(box);
  }

  /** `x`: the x values; `series`: name → y values (null where nothing was measured). */
  set(x, series, { log } = {}) {
    const names = Object.keys(series);
    const wantLog = log ?? this.log;
    if (!this.plot || names.join('\n') !== this.names.join('\n') || wantLog !== this.logNow) this.#build(names, wantLog);
    this.plot.setData([x, ...names.map((n) => series[n])]);
    this.box.dataset.points = String(x.length);
    this.box.dataset.series = names.join(',');
    this.#summarize(x, names, series);
  }

  #build(names, log) {
    this.plot?.destroy();
    this.names = names;
    this.logNow = log;
    const width = Math.max(200, Math.floor(this.box.clientWidth || 300));
    const opts = {
      width,
      height: HEIGHT,
      scales: { x: { time: this.time }, y: log ? { distr: 3 } : { auto: true } },
      axes: [
        { stroke: '#5d6778', grid: { stroke: '#eceff4' }, ticks: { stroke: '#dde1e8' } },
        {
          stroke: '#5d6778',
          grid: { stroke: '#eceff4' },
          ticks: { stroke: '#dde1e8' },
          size: 56,
          values: (_u, vals) => vals.map((v) => fmt(v)),
        },
      ],
      series: [
        { label: this.time ? 'time' : this.label || 'x' },
        ...names.map((n, i) => ({
          label: n,
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          spanGaps: false,
          points: { size: 4 },
          value: (_u, v) => (v == null ? '–' : `${fmt(v)}${this.unit ? ` ${this.unit}` : ''}`),
        })),
      ],
      // One series needs no key: the caption names it.
      legend: { show: names.length > 1, live: true },
      cursor: { drag: { x: false, y: false } },
    };
    this.plot = new uPlot(opts, [[], ...names.map(() => [])], this.box);
  }

  #resize() {
    if (!this.plot) return;
    const width = Math.max(200, Math.floor(this.box.clientWidth));
    if (width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
  }

  #summarize(x, names, series) {
    if (!this.summary) return;
    if (x.length === 0) {
      this.summary.textContent = 'No data yet.';
      return;
    }
    const parts = names.map((n) => {
      const ys = series[n];
      for (let i = ys.length - 1; i >= 0; i--) if (ys[i] != null) return `${n} ${fmt(ys[i])}${this.unit ? ` ${this.unit}` : ''}`;
      return `${n} –`;
    });
    this.summary.textContent = `${x.length} points; latest: ${parts.join(', ') || 'none'}.`;
  }
}

/** Short numbers for axes and legends: 3 significant digits, exponent for the very small or large. */
export function fmt(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/**
 * The numeric series in a job's progress events: x is `iteration`, `step`, `epoch` or `i` when
 * every event has it (else the event's position), y is every other numeric field, leaving out
 * fixed denominators (`of`, `total`, `maxIterations`).
 */
export function progressSeries(events) {
  const rows = events
    .filter((e) => e.type === 'progress' && e.data && typeof e.data === 'object' && !Array.isArray(e.data))
    .map((e) => e.data);
  if (rows.length === 0) return { x: [], series: {}, xName: '' };
  const numeric = new Set();
  for (const d of rows) for (const [k, v] of Object.entries(d)) if (typeof v === 'number' && Number.isFinite(v)) numeric.add(k);
  const xName = ['iteration', 'step', 'epoch', 'i'].find((k) => rows.every((d) => typeof d[k] === 'number')) ?? '';
  const skip = new Set([xName, 'of', 'total', 'maxIterations']);
  const series = {};
  for (const k of numeric) if (!skip.has(k)) series[k] = rows.map((d) => (typeof d[k] === 'number' && Number.isFinite(d[k]) ? d[k] : null));
  const x = xName ? rows.map((d) => d[xName]) : rows.map((_, i) => i + 1);
  return { x, series, xName: xName || 'event' };
}

/** Whether a series reads better on a log scale (all positive, spanning three orders or more). */
export function wantsLog(values) {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v == null) continue;
    if (v <= 0) return false;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return Number.isFinite(min) && max / min >= 1e3;
}
