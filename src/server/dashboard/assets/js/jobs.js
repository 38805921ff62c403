// Over 350 lines: the list, its tabs, filters, pages and live rows share one state.
// The job list: state tabs with counts, a task filter, pages (the list API's cursors), search by
// id, and one row per job with its id tail, times, duration and a live progress bar.
import { api, ApiError } from './api.js';
import { $, el, setStatus } from './dom.js';
import { ago, duration, fullTime, idTail, percentOf } from './format.js';
import { dropSub, subscribe } from './live.js';
import { emit, FINAL, on, page, PAGE_SIZE, STATES } from './state.js';

const LABELS = {
  '': 'All',
  queued: 'Queued',
  delayed: 'Delayed',
  running: 'Running',
  waiting: 'Waiting',
  succeeded: 'Succeeded',
  dead: 'Dead',
  cancelled: 'Cancelled',
};

// ---- Rows ------------------------------------------------------------------------------------

function makeRow(id) {
  const bar = el('div', {
    class: 'bar',
    role: 'progressbar',
    'aria-valuemin': '0',
    'aria-valuemax': '100',
    'aria-valuenow': '0',
    'aria-label': `Progress of job ${id}`,
  });
  const fill = el('div', { class: 'bar-fill' });
  const text = el('span', { class: 'bar-text', text: '0 %' });
  bar.append(fill, text);
  // The name holds the visible tail (as people read it) and the whole id (as tools look it up).
  const link = el('button', {
    type: 'button',
    class: 'job-link',
    text: idTail(id),
    title: id,
    'aria-label': `Show job ${idTail(id)} (${id})`,
  });
  link.addEventListener('click', () => emit('select', id));
  const cell = (cls, label, ...kids) => el('td', { class: cls, 'data-label': label }, ...kids);
  const state = el('span', { class: 'state' });
  const row = el(
    'tr',
    {},
    cell('id', 'Job', link),
    cell('task', 'Task'),
    cell('st', 'State', state),
    cell('num attempts', 'Attempts'),
    cell('time started', 'Started'),
    cell('time finished', 'Finished'),
    cell('num duration', 'Duration'),
    cell('progress', 'Progress', bar),
    // Filled by spend.js (what the job's AI calls cost).
    cell('num cost', 'Cost', '–'),
  );
  row.dataset.jobId = id;
  const c = row.children;
  row.refs = { task: c[1], state, attempts: c[3], started: c[4], finished: c[5], duration: c[6], bar, fill, text };
  return row;
}

function setTime(cell, at) {
  cell.textContent = at ? ago(at) : '–';
  if (at) cell.title = fullTime(at);
  else cell.removeAttribute('title');
}

export function paintRow(job) {
  const { record, row } = job;
  const r = row.refs;
  r.task.textContent = record.task;
  r.state.textContent = record.state;
  r.state.className = `state state-${record.state}`;
  r.attempts.textContent = `${record.attempt}/${record.maxAttempts}`;
  setTime(r.started, record.startedAt);
  setTime(r.finished, FINAL.has(record.state) ? record.finishedAt : undefined);
  r.duration.textContent = runTime(record);
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

/** Finished: finished - started. Running: so far (with an ellipsis). */
export function runTime(record) {
  if (!record.startedAt) return '–';
  if (FINAL.has(record.state) && record.finishedAt) return duration(record.finishedAt - record.startedAt);
  if (record.state === 'running') return `${duration(Date.now() - record.startedAt)}…`;
  return '–';
}

/** The bar follows the newest figure by seq, whether it came from a record or an event. */
function setPct(job, pct, seq) {
  if (pct === undefined || seq < job.pctSeq) return;
  job.pct = pct;
  job.pctSeq = seq;
}

/** A record from HTTP; live events newer than it win (the list may be a moment older than the socket). */
export function upsertRecord(record) {
  let job = page.jobs.get(record.id);
  if (!job) {
    job = { record, row: makeRow(record.id), pct: undefined, pctSeq: 0, liveSeq: 0 };
    page.jobs.set(record.id, job);
    setPct(job, percentOf(record.progress), record.lastSeq);
  } else if (record.lastSeq >= job.liveSeq) {
    // The list may leave out input and result: keep what a full read brought.
    job.record = { ...job.record, ...record };
    setPct(job, percentOf(record.progress), record.lastSeq);
  }
  // A finished job that never reported progress is still complete.
  if (job.record.state === 'succeeded' && job.pct === undefined) job.pct = 100;
  if (!FINAL.has(job.record.state)) subscribe(record.id);
  return job;
}

function matchesFilter(record) {
  const f = page.list;
  return (!f.state || record.state === f.state) && (!f.task || record.task === f.task);
}

export function renderJobs(list) {
  const body = $('jobs-body');
  const keep = new Set();
  // Jobs submitted from this page after the list was read are not in it yet: keep them on top of the first page.
  const newest = list.reduce((m, r) => Math.max(m, r.createdAt), 0);
  const listed = new Set(list.map((r) => r.id));
  const fresh =
    page.list.index === 0
      ? [...page.jobs.values()]
          .map((j) => j.record)
          .filter((r) => !listed.has(r.id) && r.createdAt > newest && submittedHere(r) && matchesFilter(r))
      : [];
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
  const f = page.list;
  $('jobs-empty').hidden = records.length > 0;
  $('jobs-empty').textContent = f.state || f.task ? 'No job matches these filters.' : 'No jobs yet.';
}

/** Submitted here (the list has not caught up); never a job that only the search brought in. */
function submittedHere(record) {
  return page.jobs.get(record.id)?.submitted === true;
}

export function addJobOnTop(record) {
  const job = upsertRecord(record);
  job.submitted = true;
  paintRow(job);
  if (page.list.index === 0 && matchesFilter(record)) {
    $('jobs-body').prepend(job.row);
    $('jobs-empty').hidden = true;
  }
  return job;
}

// ---- Live state from events ------------------------------------------------------------------

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
      if (data.retry) {
        setPct(job, 0, event.seq);
        delete r.finishedAt;
      }
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
    // A workflow parks (sleep, signal, children) and wakes up queued.
    case 'waiting':
      r.state = 'waiting';
      r.waitingFor = data.waitingFor;
      break;
    case 'woken':
      r.state = 'queued';
      delete r.waitingFor;
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

on('job-event', (event) => {
  const job = page.jobs.get(event.jobId);
  if (!job) return;
  applyEvent(job, event);
  paintRow(job);
});

// ---- Filters, tabs, pages --------------------------------------------------------------------

export function listPath() {
  const f = page.list;
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (f.state) q.set('state', f.state);
  if (f.task) q.set('task', f.task);
  const cursor = f.cursors[f.index];
  if (cursor) q.set('cursor', cursor);
  return `/v1/jobs?${q}`;
}

export async function loadList() {
  const path = listPath();
  const res = await api(path);
  // The filters or the page changed while this was on its way: a newer read paints instead.
  if (listPath() !== path) return;
  page.list.next = res.next || null;
  renderJobs(res.jobs || []);
  paintPager();
}

function paintPager() {
  const f = page.list;
  $('page-prev').disabled = f.index === 0;
  $('page-next').disabled = !f.next;
  $('page-label').textContent = `Page ${f.index + 1}`;
}

function resetPages() {
  page.list.cursors = [undefined];
  page.list.index = 0;
  page.list.next = null;
}

/** The tabs' counts: the selected task's when the server keeps counts per task, else every job's. */
function tabCounts() {
  const jobs = page.overview?.jobs;
  if (!jobs) return null;
  const task = page.list.task;
  if (task && jobs.byTask) {
    const per = jobs.byTask[task] || {};
    return Object.fromEntries(STATES.map((s) => [s, { count: per[s] ?? 0, more: false }]));
  }
  return jobs.counts;
}

export function renderTabs() {
  const counts = tabCounts();
  const bar = $('state-tabs');
  const total = counts ? STATES.reduce((n, s) => n + (counts[s]?.count ?? 0), 0) : undefined;
  const more = counts ? STATES.some((s) => counts[s]?.more) : false;
  const wanted = ['', ...STATES];
  if (bar.children.length !== wanted.length) {
    bar.replaceChildren(
      ...wanted.map((state) => {
        // The name is the visible text ("Succeeded 28"): label, a space, the count.
        const b = el(
          'button',
          { type: 'button', class: 'tab', 'data-state': state, 'aria-pressed': 'false' },
          el('span', { class: 'tab-label', text: LABELS[state] }),
          ' ',
          el('span', { class: 'tab-count' }),
        );
        b.addEventListener('click', () => setFilter({ state }));
        return b;
      }),
    );
  }
  for (const b of bar.children) {
    const state = b.dataset.state;
    const c = state ? counts?.[state] : total === undefined ? undefined : { count: total, more };
    b.querySelector('.tab-count').textContent = c ? `${c.count}${c.more ? '+' : ''}` : '';
    b.setAttribute('aria-pressed', String(page.list.state === state));
    b.title = c
      ? `${c.count}${c.more ? ' or more' : ''} ${LABELS[state].toLowerCase()} jobs${c.more ? ' (counts stop at the cap)' : ''}`
      : '';
  }
}

export function renderTasks(tasks) {
  const select = $('task-filter');
  const names = (tasks || []).map((t) => t.name).sort();
  const have = [...select.options].slice(1).map((o) => o.value);
  if (have.join('\n') !== names.join('\n')) {
    select.replaceChildren(el('option', { value: '', text: 'All tasks' }), ...names.map((n) => el('option', { value: n, text: n })));
    select.value = page.list.task;
    const submitTask = $('submit-task');
    const current = submitTask.value;
    submitTask.replaceChildren(...names.map((n) => el('option', { value: n, text: n })));
    if (names.includes(current)) submitTask.value = current;
    else if (names.includes('demo.progress')) submitTask.value = 'demo.progress';
  }
}

export function setFilter(change) {
  Object.assign(page.list, change);
  resetPages();
  renderTabs();
  loadList().catch((err) => setStatus(`Could not list jobs: ${err.message}`));
}

async function turnPage(step) {
  const f = page.list;
  if (step > 0) {
    if (!f.next) return;
    f.cursors[f.index + 1] = f.next;
    f.index++;
  } else {
    if (f.index === 0) return;
    f.index--;
  }
  f.cursors.length = f.index + 1;
  await loadList().catch((err) => setStatus(`Could not list jobs: ${err.message}`));
}

// ---- Search ----------------------------------------------------------------------------------

/** A whole id is read from the server; a piece of one (the tail a person sees) is looked up on this page. */
async function search(text) {
  const out = $('search-result');
  const q = text.trim().replace(/^…/, '');
  if (!q) return;
  const local = [...page.jobs.keys()].filter((id) => id.includes(q));
  if (local.length === 1 && local[0] !== q) {
    out.textContent = `Showing job ${local[0]}`;
    emit('select', local[0]);
    return;
  }
  try {
    const record = await api(`/v1/jobs/${encodeURIComponent(q)}`);
    upsertRecord(record);
    out.textContent = `Showing job ${record.id}`;
    emit('select', record.id);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404)
      out.textContent =
        local.length > 1 ? `${local.length} jobs on this page contain "${q}": paste the whole id` : `No job has the id ${q}`;
    else out.textContent = `Search failed: ${err.message}`;
  }
}

$('task-filter').addEventListener('change', (e) => setFilter({ task: e.target.value }));
$('page-prev').addEventListener('click', () => turnPage(-1));
$('page-next').addEventListener('click', () => turnPage(1));
$('search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void search($('search-input').value);
});
