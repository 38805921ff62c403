// tasklane dashboard: plain modules, no framework, no CDN. Every data call carries the client key
// kept in this tab's sessionStorage; the WebSocket gets a short-lived token minted with that key.
// All text from the server goes through textContent, never innerHTML.

const KEY_STORAGE = 'tasklane.key';
const REFRESH_MS = 2000;
const LIST_LIMIT = 50;
/** Events kept per job in the page (the server keeps them all; the log says when older ones were trimmed). */
const EVENT_CAP = 2000;
const FINAL = new Set(['succeeded', 'dead', 'cancelled']);
const TERMINAL_EVENTS = FINAL;

const $ = (id) => document.getElementById(id);

const page = {
  key: sessionStorage.getItem(KEY_STORAGE) || '',
  /** id → { record, row, pct, liveSeq } */
  jobs: new Map(),
  /** id → { lastSeq, events, trimmed, done } — one WebSocket subscription per job, from seq 0. */
  subs: new Map(),
  selected: null,
  ws: null,
  wsRetryMs: 1000,
  wsTimer: 0,
  blocked: false,
  refreshTimer: 0,
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---- HTTP ------------------------------------------------------------------------------------

async function api(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  if (page.key) headers.authorization = `Bearer ${page.key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const apiErr = new ApiError(res.status, err.code || `HTTP_${res.status}`, err.message || `${method} ${path} answered ${res.status}`);
    if (res.status === 401 || res.status === 403) needKey(apiErr);
    throw apiErr;
  }
  return data;
}

// ---- Key prompt ------------------------------------------------------------------------------

function needKey(err) {
  page.blocked = true;
  const panel = $('key-panel');
  const msg = $('key-message');
  if (err.status === 403) {
    msg.textContent = `This key may not read the dashboard (${err.message}). Enter a key with the jobs:read or admin scope.`;
  } else if (page.key) {
    msg.textContent = `The server refused this key (${err.message}). Enter a valid client key.`;
  } else {
    msg.textContent = 'Key required: this server needs a client key. Enter one of the keys from server.apiKeys; it stays in this browser tab only.';
  }
  panel.hidden = false;
  setStatus('Key required');
  closeSocket();
  $('key-input').focus();
}

function useKey(key) {
  page.key = key;
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  page.blocked = false;
  $('key-panel').hidden = true;
  $('key-input').value = '';
  closeSocket();
  page.wsRetryMs = 1000;
  refreshSoon(0);
}

function setStatus(text) {
  $('status').textContent = text;
}

// ---- Formatting ------------------------------------------------------------------------------

function age(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function num(n, digits = 1) {
  return typeof n === 'number' && Number.isFinite(n) ? n.toFixed(digits) : '–';
}

function clock(epochMs) {
  return new Date(epochMs).toLocaleTimeString();
}

function compact(data) {
  if (data === undefined) return '';
  const text = JSON.stringify(data);
  return text.length > 300 ? `${text.slice(0, 297)}…` : text;
}

/** Percent done from a progress payload: {step, of}, {done, total}, {percent}, {pct} or {ratio}. */
function percentOf(data) {
  if (!data || typeof data !== 'object') return undefined;
  const pairs = [['step', 'of'], ['done', 'total'], ['current', 'total'], ['completed', 'total']];
  for (const [a, b] of pairs) {
    if (typeof data[a] === 'number' && typeof data[b] === 'number' && data[b] > 0) return clampPct((data[a] / data[b]) * 100);
  }
  for (const k of ['percent', 'pct']) if (typeof data[k] === 'number') return clampPct(data[k]);
  for (const k of ['ratio', 'fraction']) if (typeof data[k] === 'number') return clampPct(data[k] * 100);
  return undefined;
}

function clampPct(p) {
  return Math.max(0, Math.min(100, Math.round(p)));
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('aria-') || k === 'role' || k === 'scope') node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c);
  return node;
}

// ---- Jobs table ------------------------------------------------------------------------------

function shortId(id) {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}

function makeRow(id) {
  const bar = el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0', 'aria-label': `Progress of job ${id}` });
  const fill = el('div', { class: 'bar-fill' });
  const text = el('span', { class: 'bar-text', text: '0 %' });
  bar.append(fill, text);
  const link = el('button', { type: 'button', class: 'job-link', text: shortId(id), title: id, 'aria-label': `Show job ${id}` });
  link.addEventListener('click', () => select(id));
  const stateBadge = el('span', { class: 'state' });
  const row = el('tr', {}, el('td', {}, link), el('td', { class: 'task' }), el('td', {}, stateBadge), el('td', { class: 'num attempts' }), el('td', { class: 'num age' }), el('td', {}, bar));
  row.dataset.jobId = id;
  row.refs = { task: row.children[1], state: stateBadge, attempts: row.children[3], age: row.children[4], bar, fill, text };
  return row;
}

function paintRow(job) {
  const { record, row } = job;
  const r = row.refs;
  r.task.textContent = record.task;
  r.state.textContent = record.state;
  r.state.className = `state state-${record.state}`;
  r.attempts.textContent = `${record.attempt}/${record.maxAttempts}`;
  r.age.textContent = age(Date.now() - record.createdAt);
  const pct = job.pct ?? 0;
  // Only touch the DOM when the figure moves, so every update is one observable change.
  if (r.bar.getAttribute('aria-valuenow') !== String(pct)) {
    r.bar.setAttribute('aria-valuenow', String(pct));
    r.fill.style.width = `${pct}%`;
    r.text.textContent = `${pct} %`;
  }
  r.fill.classList.toggle('done', record.state === 'succeeded');
  r.fill.classList.toggle('failed', record.state === 'dead' || record.state === 'cancelled');
  row.classList.toggle('selected', page.selected === record.id);
}

/** The bar follows the newest figure by seq, whether it came from a record or an event. */
function setPct(job, pct, seq) {
  if (pct === undefined || seq < job.pctSeq) return;
  job.pct = pct;
  job.pctSeq = seq;
}

/** A record from HTTP; live events newer than it win (the list may be a moment older than the socket). */
function upsertRecord(record) {
  let job = page.jobs.get(record.id);
  if (!job) {
    job = { record, row: makeRow(record.id), pct: undefined, pctSeq: 0, liveSeq: 0 };
    page.jobs.set(record.id, job);
    setPct(job, percentOf(record.progress), record.lastSeq);
  } else if (record.lastSeq >= job.liveSeq) {
    job.record = record;
    setPct(job, percentOf(record.progress), record.lastSeq);
  }
  // A finished job that never reported progress is still complete.
  if (job.record.state === 'succeeded' && job.pct === undefined) job.pct = 100;
  if (!FINAL.has(job.record.state)) subscribe(record.id);
  return job;
}

function renderJobs(list) {
  const body = $('jobs-body');
  const keep = new Set();
  // Jobs submitted from this page after the list was read are not in it yet: keep them on top.
  const newest = list.reduce((m, r) => Math.max(m, r.createdAt), 0);
  const listed = new Set(list.map((r) => r.id));
  const fresh = [...page.jobs.values()].map((j) => j.record).filter((r) => !listed.has(r.id) && r.createdAt > newest);
  const records = [...fresh.sort((a, b) => b.createdAt - a.createdAt), ...list];
  records.forEach((record, i) => {
    const job = upsertRecord(record);
    keep.add(record.id);
    paintRow(job);
    if (body.children[i] !== job.row) body.insertBefore(job.row, body.children[i] ?? null);
  });
  for (const [id, job] of page.jobs) {
    if (keep.has(id)) continue;
    job.row.remove();
    if (id !== page.selected) {
      page.jobs.delete(id);
      dropSub(id);
    }
  }
  $('jobs-empty').hidden = records.length > 0;
}

function addJobOnTop(record) {
  const job = upsertRecord(record);
  paintRow(job);
  $('jobs-body').prepend(job.row);
  $('jobs-empty').hidden = true;
}

// ---- Live events (WebSocket) -----------------------------------------------------------------

function subscribe(jobId) {
  if (page.subs.has(jobId)) return;
  const sub = { lastSeq: 0, events: [], trimmed: false, done: false };
  page.subs.set(jobId, sub);
  sendSubscribe(jobId, sub);
}

function sendSubscribe(jobId, sub) {
  if (page.ws && page.ws.readyState === WebSocket.OPEN) {
    page.ws.send(JSON.stringify({ op: 'subscribe', jobId, fromSeq: sub.lastSeq }));
  } else {
    connectSoon();
  }
}

function dropSub(jobId) {
  const sub = page.subs.get(jobId);
  if (!sub) return;
  page.subs.delete(jobId);
  if (!sub.done && page.ws && page.ws.readyState === WebSocket.OPEN) page.ws.send(JSON.stringify({ op: 'unsubscribe', jobId }));
}

function onEvent(event) {
  const sub = page.subs.get(event.jobId);
  if (!sub || event.seq <= sub.lastSeq) return; // a replay overlapping what we hold
  sub.lastSeq = event.seq;
  sub.events.push(event);
  if (sub.events.length > EVENT_CAP) {
    sub.events.splice(0, sub.events.length - EVENT_CAP);
    sub.trimmed = true;
  }
  if (TERMINAL_EVENTS.has(event.type)) sub.done = true;

  const job = page.jobs.get(event.jobId);
  if (job) {
    applyEvent(job, event);
    paintRow(job);
  }
  if (page.selected === event.jobId) {
    appendLog(event);
    if (job) paintFacts(job.record);
  }
}

function applyEvent(job, event) {
  const r = { ...job.record };
  job.liveSeq = Math.max(job.liveSeq, event.seq);
  if (event.seq <= r.lastSeq) {
    // Replayed history: only the progress bar follows it, the record already holds the state.
    if (event.type === 'progress') setPct(job, percentOf(event.data), event.seq);
    return;
  }
  r.lastSeq = event.seq;
  r.updatedAt = event.at;
  const data = event.data && typeof event.data === 'object' ? event.data : {};
  switch (event.type) {
    case 'enqueued':
      r.state = 'queued';
      if (data.retry) setPct(job, 0, event.seq);
      break;
    case 'started':
      r.state = 'running';
      r.attempt = data.attempt ?? event.attempt ?? r.attempt;
      r.startedAt = event.at;
      break;
    case 'progress':
      r.progress = event.data;
      setPct(job, percentOf(event.data), event.seq);
      break;
    case 'retrying':
      r.state = data.runAt && data.runAt > Date.now() ? 'delayed' : 'queued';
      break;
    case 'succeeded':
      r.state = 'succeeded';
      r.result = data.result;
      r.finishedAt = event.at;
      if (job.pct === undefined) job.pct = 100;
      break;
    case 'dead':
    case 'cancelled':
      r.state = event.type;
      if (data.error) r.error = data.error;
      r.finishedAt = event.at;
      break;
    default:
      break;
  }
  job.record = r;
}

function connectSoon(delay = 0) {
  if (page.ws || page.wsTimer || page.blocked) return;
  page.wsTimer = setTimeout(() => {
    page.wsTimer = 0;
    connect().catch((err) => {
      setConn(false, `Live updates: off (${err.message})`);
      retryLater();
    });
  }, delay);
}

function retryLater() {
  if (page.blocked) return;
  const delay = page.wsRetryMs;
  page.wsRetryMs = Math.min(page.wsRetryMs * 2, 15000);
  connectSoon(delay);
}

async function connect() {
  if (page.ws) return;
  let query = '';
  if (page.key) {
    // Browsers cannot put a header on a WebSocket: a short-lived token rides in the URL instead.
    const minted = await api('/v1/tokens', { method: 'POST', body: {} });
    query = `?token=${encodeURIComponent(minted.token)}`;
  }
  if (page.ws || page.blocked) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/v1/ws${query}`);
  page.ws = ws;
  ws.addEventListener('open', () => {
    page.wsRetryMs = 1000;
    setConn(true, 'Live updates: on');
    for (const [jobId, sub] of page.subs) if (!sub.done) sendSubscribe(jobId, sub);
  });
  ws.addEventListener('message', (m) => {
    let msg;
    try {
      msg = JSON.parse(m.data);
    } catch {
      return;
    }
    if (msg.type === 'event' && msg.event) onEvent(msg.event);
    else if (msg.type === 'error') onSocketError(msg);
    else if (msg.type === 'unsubscribed' && msg.reason === 'ended' && page.subs.has(msg.jobId)) page.subs.get(msg.jobId).done = true;
  });
  ws.addEventListener('close', () => {
    if (page.ws !== ws) return;
    page.ws = null;
    setConn(false, 'Live updates: off (reconnecting)');
    retryLater();
  });
}

function onSocketError(msg) {
  const err = msg.error || {};
  const jobId = msg.jobId;
  if (jobId && page.subs.has(jobId)) {
    // The job is gone or not ours to read: stop asking for it.
    page.subs.get(jobId).done = true;
  }
  setStatus(`Live update error${jobId ? ` for job ${shortId(jobId)}` : ''}: ${err.message || err.code || 'unknown'}`);
}

function closeSocket() {
  if (page.wsTimer) clearTimeout(page.wsTimer);
  page.wsTimer = 0;
  const ws = page.ws;
  page.ws = null;
  if (ws) ws.close();
  setConn(false, 'Live updates: off');
}

function setConn(on, text) {
  const c = $('conn');
  c.textContent = text;
  c.className = `conn ${on ? 'on' : 'off'}`;
}

// ---- Job detail --------------------------------------------------------------------------------

function select(id) {
  page.selected = id;
  for (const job of page.jobs.values()) job.row.classList.toggle('selected', job.record.id === id);
  const job = page.jobs.get(id);
  $('detail-empty').hidden = true;
  $('detail').hidden = false;
  if (job) paintFacts(job.record);
  const log = $('event-log');
  log.replaceChildren();
  const sub = page.subs.get(id);
  if (sub) {
    if (sub.trimmed) log.append(el('li', { class: 'muted', text: 'Older events trimmed in this page.' }));
    for (const e of sub.events) appendLog(e);
  } else {
    subscribe(id);
  }
}

function paintFacts(record) {
  const facts = $('detail-facts');
  const rows = [
    ['Job', record.id],
    ['Task', record.task],
    ['State', record.state],
    ['Attempts', `${record.attempt}/${record.maxAttempts}`],
    ['Created', clock(record.createdAt)],
    ['Input', compact(record.input)],
  ];
  if (record.result !== undefined) rows.push(['Result', compact(record.result)]);
  if (record.error) rows.push(['Error', `${record.error.code}: ${record.error.message}`]);
  facts.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: String(v) })]));
  $('cancel-job').disabled = FINAL.has(record.state);
  $('retry-job').disabled = !(record.state === 'dead' || record.state === 'cancelled');
}

function appendLog(event) {
  const log = $('event-log');
  const item = el(
    'li',
    {},
    el('span', { class: 'seq', text: `#${event.seq}` }),
    el('span', { class: 'type', text: event.type }),
    el('span', { class: 'data', text: compact(event.data) }),
  );
  item.dataset.seq = String(event.seq);
  item.dataset.type = event.type;
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(item);
  while (log.children.length > EVENT_CAP) log.firstChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

async function jobAction(action) {
  const id = page.selected;
  if (!id) return;
  try {
    const record = await api(`/v1/jobs/${encodeURIComponent(id)}/${action}`, { method: 'POST', body: {} });
    const job = upsertRecord(record);
    paintRow(job);
    paintFacts(job.record);
    const sub = page.subs.get(id);
    // A retried job has a new stream tail after its terminal event: follow it again.
    if (sub && sub.done && !FINAL.has(record.state)) {
      sub.done = false;
      sendSubscribe(id, sub);
    }
    setStatus(`Job ${shortId(id)}: ${action} requested`);
  } catch (err) {
    setStatus(`Could not ${action} job ${shortId(id)}: ${err.message}`);
  }
}

// ---- Overview panels ---------------------------------------------------------------------------

function renderOverview(o) {
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
        el('td', { text: s.placement }),
        el('td', { text: String(s.active) }),
        el('td', { text: String(s.queued) }),
        el('td', { text: String(s.completed) }),
        el('td', { text: String(s.failed) }),
        el('td', { text: String(s.timedOut) }),
        el('td', { text: num(s.waitMs && s.waitMs.p99) }),
        el('td', { text: num(s.runMs && s.runMs.p99) }),
      ),
    ),
  );

  const ai = o.ai;
  const keyRows = [];
  for (const p of ai ? ai.providers : []) {
    for (const k of p.keys) {
      let health = 'ok';
      let cls = 'health-ok';
      if (k.disabled) {
        health = `disabled${k.disabledReason ? ` (${k.disabledReason})` : ''}`;
        cls = 'health-disabled';
      } else if (k.coolingUntil) {
        health = `cooling until ${clock(k.coolingUntil)}`;
        cls = 'health-cooling';
      }
      // (key, model) pairs: a 429 cools one model, a 403 refuses one model; the key serves the rest.
      const pairs = (k.models || []).map((m) =>
        m.refusedUntil ? `${m.model} refused until ${clock(m.refusedUntil)}` : `${m.model} cooling until ${clock(m.coolingUntil)}`,
      );
      if (pairs.length > 0) {
        health += `; ${pairs.slice(0, 5).join('; ')}${pairs.length > 5 ? ` (+${pairs.length - 5} more)` : ''}`;
        if (cls === 'health-ok') cls = 'health-cooling';
      }
      keyRows.push(
        el('tr', {}, el('th', { scope: 'row', text: p.name }), el('td', { text: p.type }), el('td', { text: `#${k.index}` }), el('td', { class: cls, text: health }), el('td', { class: 'num', text: String(k.inFlight) })),
      );
    }
  }
  $('keys-body').replaceChildren(...keyRows);
  $('providers-empty').hidden = keyRows.length > 0;
  $('keys-table').hidden = keyRows.length === 0;

  const breakers = ai ? ai.breakers : [];
  $('breakers-body').replaceChildren(
    ...breakers.map((b) =>
      el('tr', {}, el('th', { scope: 'row', text: b.target }), el('td', { class: `breaker-${b.state}`, text: b.state }), el('td', { class: 'num', text: String(b.failures) }), el('td', { text: b.retryAt ? clock(b.retryAt) : '–' })),
    ),
  );
  $('breakers-table').hidden = breakers.length === 0;
  $('breakers-empty').hidden = breakers.length > 0;

  const counts = o.jobs ? o.jobs.counts : null;
  $('job-counts').replaceChildren(
    ...(counts ? Object.entries(counts).map(([state, c]) => el('span', { text: `${state}: ${c.count}${c.more ? '+' : ''}` })) : [el('span', { text: 'Jobs are not enabled on this server.' })]),
  );
}

// ---- Refresh loop --------------------------------------------------------------------------------

async function refresh() {
  const [overview, list] = await Promise.allSettled([api('/v1/admin/overview'), api(`/v1/jobs?limit=${LIST_LIMIT}`)]);
  if (page.blocked) return;
  if (overview.status === 'fulfilled') renderOverview(overview.value);
  if (list.status === 'fulfilled') renderJobs(list.value.jobs || []);
  const failed = [overview, list].filter((r) => r.status === 'rejected');
  if (failed.length) setStatus(`Refresh failed: ${failed[0].reason.message}`);
  else setStatus(`Updated ${new Date().toLocaleTimeString()}`);
  connectSoon();
}

function refreshSoon(delay = REFRESH_MS) {
  clearTimeout(page.refreshTimer);
  page.refreshTimer = setTimeout(async () => {
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

// ---- Wiring ------------------------------------------------------------------------------------

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
  const steps = Number($('steps').value);
  const ms = Number($('ms').value);
  try {
    const record = await api('/v1/jobs', { method: 'POST', body: { task: 'demo.progress', input: { steps, ms } } });
    addJobOnTop(record);
    select(record.id);
    out.textContent = `Submitted job ${shortId(record.id)}`;
  } catch (err) {
    out.textContent = `Submit failed: ${err.message}`;
  }
});

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && !page.blocked) refreshSoon(0);
});

$('cancel-job').addEventListener('click', () => jobAction('cancel'));
$('retry-job').addEventListener('click', () => jobAction('retry'));

refreshSoon(0);
