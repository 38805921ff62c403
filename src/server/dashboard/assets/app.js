// tasklane dashboard: native ES modules, no framework, no bundler, no CDN. Every data call
// carries the client key kept in this tab's sessionStorage; the WebSocket gets a short-lived
// token minted with that key. This file wires the modules in js/ together and runs the refresh.
import { loadAiLog } from './js/ai-log.js';
import { api, useKey } from './js/api.js';
import './js/detail.js';
import { $, setStatus } from './js/dom.js';
import { idTail } from './js/format.js';
import { renderHistory, renderOverview } from './js/health.js';
import { addJobOnTop, loadList, renderTabs, renderTasks } from './js/jobs.js';
import { connectSoon } from './js/live.js';
import { loadSpend } from './js/spend.js';
import { emit, on, page, REFRESH_MS } from './js/state.js';

let refreshTimer = 0;

async function refresh() {
  const results = await Promise.allSettled([
    api('/v1/admin/overview').then((o) => {
      page.overview = o;
      renderOverview(o);
      renderTabs();
      renderTasks(o.jobs ? o.jobs.tasks : []);
      $('jobs-off').hidden = Boolean(o.jobs);
    }),
    // The cost column fills in once the page's rows exist.
    loadList().then(loadSpend),
    api('/v1/admin/history').then(renderHistory),
    loadAiLog(),
  ]);
  if (page.blocked) return;
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length) setStatus(`Refresh failed: ${failed[0].reason.message}`);
  else setStatus(`Updated ${new Date().toLocaleTimeString()}`);
  emit('tick');
  connectSoon();
}

function refreshSoon(delay = REFRESH_MS) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    // A hidden tab keeps its socket but stops polling; it catches up when shown again.
    if (document.hidden) return refreshSoon();
    try {
      await refresh();
    } catch (err) {
      setStatus(`Refresh failed: ${err.message}`);
    }
    if (!page.blocked) refreshSoon();
  }, delay);
}

on('key-changed', () => refreshSoon(0));

$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  useKey($('key-input').value.trim());
});

$('change-key').addEventListener('click', () => {
  $('key-message').textContent = 'Enter a client key; it stays in this browser tab only.';
  $('key-panel').hidden = false;
  $('key-input').focus();
});

$('submit-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const out = $('submit-result');
  const task = $('submit-task').value;
  let input;
  try {
    const text = $('submit-input').value.trim();
    input = text ? JSON.parse(text) : {};
  } catch (err) {
    out.textContent = `Input is not JSON: ${err.message}`;
    return;
  }
  try {
    const record = await api('/v1/jobs', { method: 'POST', body: { task, input } });
    addJobOnTop(record);
    emit('select', record.id);
    out.textContent = `Submitted job ${idTail(record.id)}`;
  } catch (err) {
    out.textContent = `Submit failed: ${err.message}`;
  }
});

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && !page.blocked) refreshSoon(0);
});

refreshSoon(0);
