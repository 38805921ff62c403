// The overview panels: lanes, the event loop, provider health (keys and breakers) and the
// charts of the last minutes (loop delay, lane throughput, upstream latency per provider).
import { LineChart } from './charts.js';
import { $, el } from './dom.js';
import { age, clock, num } from './format.js';

const PROVIDER_TEXT = {
  ok: 'ok',
  idle: 'no call yet',
  open: 'breaker open',
  probe: 'probe on next call',
  'half-open': 'probing',
  unreachable: 'unreachable',
  failing: 'failing',
  down: 'all keys disabled',
};

const charts = {};

export function renderOverview(o) {
  const loop = o.loop || {};
  const d = loop.delayMs || {};
  $('loop-p50').textContent = `${num(d.p50, 2)} ms`;
  $('loop-p99').textContent = `${num(d.p99, 2)} ms`;
  $('loop-max').textContent = `${num(d.max, 2)} ms`;
  $('loop-util').textContent = typeof loop.utilization === 'number' ? `${(loop.utilization * 100).toFixed(1)} %` : '–';
  $('uptime').textContent = age((o.uptimeS || 0) * 1000);

  const lanes = o.lanes || {};
  $('lanes-body').replaceChildren(
    ...Object.entries(lanes).map(([name, s]) =>
      el(
        'tr',
        {},
        el('th', { scope: 'row', text: name }),
        ...[
          ['Placement', s.placement],
          ['Active', String(s.active)],
          ['Queued', String(s.queued)],
          ['Completed', String(s.completed)],
          ['Failed', String(s.failed)],
          ['Timed out', String(s.timedOut)],
          ['Wait p99 (ms)', num(s.waitMs && s.waitMs.p99)],
          ['Run p99 (ms)', num(s.runMs && s.runMs.p99)],
        ].map(([label, text]) => el('td', { 'data-label': label, text })),
      ),
    ),
  );
  renderProviders(o.ai);
}

function renderProviders(ai) {
  const now = Date.now();
  const providers = ai ? ai.providers : [];
  $('provider-list').replaceChildren(
    ...providers.map((p) => {
      const s = p.status || { state: 'idle', text: '' };
      return el(
        'li',
        { class: `provider provider-${s.state}`, 'data-provider': p.name, 'data-state': s.state },
        el('span', { class: 'provider-name', text: p.name }),
        el('span', { class: `badge badge-${s.state}`, text: PROVIDER_TEXT[s.state] || s.state }),
        el('span', { class: 'provider-text', text: s.text }),
      );
    }),
  );
  const keyRows = [];
  for (const p of providers) {
    for (const k of p.keys) {
      const [text, cls] = keyHealth(k, p.status, now);
      keyRows.push(
        el(
          'tr',
          { 'data-provider': p.name, 'data-key': String(k.index), 'data-state': k.state || '' },
          el('th', { scope: 'row', text: p.name }),
          el('td', { 'data-label': 'Type', text: p.type }),
          el('td', { 'data-label': 'Key', text: `#${k.index}` }),
          el('td', { 'data-label': 'Health', class: cls, text }),
          el('td', { 'data-label': 'In flight', class: 'num', text: String(k.inFlight) }),
        ),
      );
    }
  }
  $('keys-body').replaceChildren(...keyRows);
  $('providers-empty').hidden = providers.length > 0;
  $('keys-table').hidden = keyRows.length === 0;

  const breakers = ai ? ai.breakers : [];
  $('breakers-body').replaceChildren(
    ...breakers.map((b) => {
      const past = b.state === 'open' && b.retryAt && b.retryAt <= now;
      const state = past ? 'open: probe on next call' : b.state;
      const retry = b.retryAt ? (past ? `passed (${clock(b.retryAt)})` : clock(b.retryAt)) : '–';
      return el(
        'tr',
        { 'data-target': b.target, 'data-state': past ? 'probe' : b.state },
        el('th', { scope: 'row', text: b.target }),
        el('td', { 'data-label': 'State', class: `breaker-${past ? 'probe' : b.state}`, text: state }),
        el('td', { 'data-label': 'Failures', class: 'num', text: String(b.failures) }),
        el('td', { 'data-label': 'Retry at', text: retry }),
      );
    }),
  );
  $('breakers-table').hidden = breakers.length === 0;
  $('breakers-empty').hidden = breakers.length > 0;
}

/** A key is green only when the server says so (its provider is fine and it answered). */
function keyHealth(k, status, now) {
  let [text, cls] = keyLine(k, status, now);
  // (key, model) pairs: a 429 cools one model, a 403 refuses one model; the key serves the rest.
  const pairs = (k.models || []).map((m) =>
    m.refusedUntil ? `${m.model} refused until ${clock(m.refusedUntil)}` : `${m.model} cooling until ${clock(m.coolingUntil)}`,
  );
  if (pairs.length > 0) {
    text += `; ${pairs.slice(0, 5).join('; ')}${pairs.length > 5 ? ` (+${pairs.length - 5} more)` : ''}`;
    if (cls === 'health-ok' || cls === 'health-idle') cls = 'health-cooling';
  }
  return [text, cls];
}

function keyLine(k, status, now) {
  const state = k.state || (k.disabled ? 'disabled' : k.coolingUntil > now ? 'cooling' : 'idle');
  switch (state) {
    case 'disabled':
      return [
        `disabled${k.disabledReason ? ` (${k.disabledReason})` : ''}${k.reprobeAt ? `; re-probe at ${clock(k.reprobeAt)}` : ''}`,
        'health-disabled',
      ];
    case 'cooling':
      // Without a key-wide cooldown, only some (key, model) pairs cool: they follow in the text.
      return [k.coolingUntil > now ? `cooling until ${clock(k.coolingUntil)}` : 'serves other models', 'health-cooling'];
    case 'blocked':
      return [`not serving: provider ${PROVIDER_TEXT[status?.state] || status?.state || 'unwell'}`, 'health-blocked'];
    case 'ok':
      return ['ok', 'health-ok'];
    default:
      return ['not used yet', 'health-idle'];
  }
}

export function renderHistory(h) {
  charts.loop ??= new LineChart($('chart-loop'), { unit: 'ms' });
  charts.lanes ??= new LineChart($('chart-lanes'), { unit: '/s' });
  charts.latency ??= new LineChart($('chart-latency'), { unit: 'ms' });
  charts.loop.set(h.at, { p50: h.loop.p50, p99: h.loop.p99, max: h.loop.max });
  charts.lanes.set(h.at, h.lanes);
  const providers = Object.keys(h.latencyMs);
  $('chart-latency-empty').hidden = providers.length > 0;
  $('chart-latency').hidden = providers.length === 0;
  if (providers.length) charts.latency.set(h.at, h.latencyMs);
}
