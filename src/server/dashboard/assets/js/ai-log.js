// The last AI requests (admin keys only): route, who served it, attempts and why they failed,
// cache, latency, tokens. Keys appear by index only; the server never sends more.
import { api, ApiError } from './api.js';
import { $, el } from './dom.js';
import { ago, duration, fullTime } from './format.js';
import { page } from './state.js';

const LIMIT = 50;

export async function loadAiLog() {
  if (page.aiLogForbidden) return;
  try {
    const res = await api(`/v1/admin/ai/requests?limit=${LIMIT}`, { quiet403: true });
    render(res);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      page.aiLogForbidden = true;
      $('ai-log-note').textContent = 'The AI request log needs a key with the admin scope.';
      $('ai-log-table').hidden = true;
      return;
    }
    throw err;
  }
}

function short(text, max = 140) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function render(res) {
  const rows = res.requests.map((r) => {
    const served = r.provider ? `${r.provider}/${r.model}` : '–';
    const failures = r.failures.map(
      (f) => `${f.provider}/${f.model} #${f.keyIndex}: ${f.status ?? f.kind ?? f.code}${f.ms !== undefined ? ` (${f.ms} ms)` : ''}`,
    );
    const attempts = failures.length
      ? `${r.attempts}: ${failures.join('; ')}`
      : r.attempts > 1 && r.outcome !== 'error'
        ? `${r.attempts} (${r.attempts - 1} failed first)`
        : String(r.attempts);
    const waited = r.waitedMs ? `, waited ${duration(r.waitedMs)} for a cooldown` : '';
    const tokens = r.tokens ? `${r.tokens.prompt} + ${r.tokens.completion}` : '–';
    const latency =
      r.stream && r.durationMs !== undefined ? `${duration(r.latencyMs)} first, ${duration(r.durationMs)} all` : duration(r.latencyMs);
    const outcome = r.outcome === 'error' ? `${r.error?.code ?? 'error'}` : r.outcome;
    const time = el('time', { dateTime: fullTime(r.at), title: fullTime(r.at), text: ago(r.at) });
    return el(
      'tr',
      { class: `ai-${r.outcome}`, 'data-seq': String(r.seq), 'data-outcome': r.outcome },
      el('td', { 'data-label': 'When' }, time),
      el('th', {
        scope: 'row',
        'data-label': 'Route',
        text: `${r.route}${r.stream ? ' (stream)' : ''}${r.kind === 'embeddings' ? ' (embeddings)' : ''}`,
      }),
      el('td', { 'data-label': 'Served by', text: served }),
      el('td', { 'data-label': 'Key', text: r.keyIndex !== undefined ? `#${r.keyIndex}` : '–' }),
      el('td', { 'data-label': 'Attempts', class: 'attempts', text: `${attempts}${waited}` }),
      el('td', { 'data-label': 'Cache', text: r.cache ?? '–' }),
      el('td', { 'data-label': 'Latency', class: 'num', text: latency }),
      el('td', {
        'data-label': 'Tokens',
        class: 'num',
        text: tokens,
        title: r.tokens ? `prompt ${r.tokens.prompt}, completion ${r.tokens.completion}, total ${r.tokens.total}` : undefined,
      }),
      el(
        'td',
        { 'data-label': 'Outcome', class: `outcome outcome-${r.outcome}`, title: r.error?.message },
        el('span', { class: 'outcome-code', text: outcome }),
        r.error ? el('span', { class: 'outcome-message', text: short(r.error.message) }) : undefined,
      ),
    );
  });
  $('ai-log-body').replaceChildren(...rows);
  $('ai-log-table').hidden = rows.length === 0;
  $('ai-log-note').textContent =
    rows.length === 0
      ? 'No AI request since the server started.'
      : `Last ${rows.length} of ${res.total} requests since start (the server keeps ${res.capacity}).`;
}
