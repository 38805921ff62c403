// The selected job: its facts, input and result pretty-printed, a chart of its numeric progress
// series, and its event log with times relative to the job's start.
import { api } from './api.js';
import { LineChart, progressSeries, wantsLog } from './charts.js';
import { $, el, setStatus } from './dom.js';
import { clock, fullTime, idTail, offset, prettyJson } from './format.js';
import { paintRow, runTime, upsertRecord } from './jobs.js';
import { paintWorkflow } from './workflow.js';
import { dropSub, resubscribe, subscribe } from './live.js';
import { EVENT_CAP, FINAL, on, page } from './state.js';

let chart = null;
let chartFrame = 0;

export async function select(id) {
  const previous = page.selected;
  page.selected = id;
  for (const job of page.jobs.values()) job.row.classList.toggle('selected', job.record.id === id);
  $('detail-empty').hidden = true;
  $('detail').hidden = false;
  const known = page.jobs.get(id);
  if (known) paintFacts(known.record);
  rebuildLog(id);
  drawProgress();
  // A job that only the search or the old selection kept is not followed once it is no longer shown.
  if (previous && previous !== id && !$('jobs-body').contains(page.jobs.get(previous)?.row ?? null)) {
    page.jobs.delete(previous);
    dropSub(previous);
  }
  try {
    // The list may leave out input and result: the detail reads the whole record.
    const record = await api(`/v1/jobs/${encodeURIComponent(id)}`);
    if (page.selected !== id) return;
    const job = upsertRecord(record);
    paintRow(job);
    paintFacts(job.record);
  } catch (err) {
    if (page.selected === id) setStatus(`Could not read job ${idTail(id)}: ${err.message}`);
  }
  subscribe(id);
}

function rebuildLog(id) {
  const log = $('event-log');
  log.replaceChildren();
  const sub = page.subs.get(id);
  if (!sub) return;
  if (sub.trimmed) log.append(el('li', { class: 'muted', text: 'Older events trimmed in this page.' }));
  for (const e of sub.events) appendLog(e);
}

export function paintFacts(record) {
  const rows = [
    ['Job', record.id, 'mono'],
    ['Task', record.task],
    ['State', record.state],
    ['Attempts', `${record.attempt}/${record.maxAttempts}`],
    ['Created', stamp(record.createdAt)],
    ['Started', record.startedAt ? stamp(record.startedAt) : '–'],
    ['Finished', FINAL.has(record.state) && record.finishedAt ? stamp(record.finishedAt) : '–'],
    ['Duration', runTime(record)],
  ];
  if (record.error) rows.push(['Error', `${record.error.code}: ${record.error.message}`]);
  $('detail-facts').replaceChildren(
    ...rows.flatMap(([k, v, cls]) => [el('dt', { text: k }), el('dd', { text: String(v), class: cls, 'data-fact': k.toLowerCase() })]),
  );
  setJson('detail-input', 'Input', record.input);
  setJson('detail-result', 'Result', record.state === 'succeeded' ? record.result : undefined);
  $('cancel-job').disabled = FINAL.has(record.state);
  $('retry-job').disabled = !(record.state === 'dead' || record.state === 'cancelled');
  paintWorkflow(record);
}

function stamp(at) {
  return new Date(at).toLocaleString();
}

function setJson(id, title, value) {
  const box = $(id);
  box.hidden = value === undefined;
  box.querySelector('pre').textContent = value === undefined ? '' : JSON.stringify(value, null, 2);
}

/** The base of the log's relative times: the job's creation (its first event is `enqueued`). */
function baseTime(jobId) {
  const job = page.jobs.get(jobId);
  if (job?.record.createdAt) return job.record.createdAt;
  return page.subs.get(jobId)?.events[0]?.at ?? 0;
}

function appendLog(event) {
  const log = $('event-log');
  const base = baseTime(event.jobId);
  const data =
    event.data === undefined || (event.data && typeof event.data === 'object' && Object.keys(event.data).length === 0)
      ? ''
      : prettyJson(event.data);
  const item = el(
    'li',
    {},
    el('span', { class: 'seq', text: `#${event.seq}` }),
    el('time', {
      class: 'at',
      dateTime: fullTime(event.at),
      title: fullTime(event.at),
      text: base ? offset(event.at - base) : clock(event.at),
    }),
    el('span', { class: 'type', text: event.type }),
    el('pre', { class: 'data', text: data }),
  );
  item.dataset.seq = String(event.seq);
  item.dataset.type = event.type;
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(item);
  while (log.children.length > EVENT_CAP) log.firstChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

// ---- Progress chart ----------------------------------------------------------------------------

function drawProgress() {
  chartFrame = 0;
  const box = $('progress-chart');
  const wrap = $('progress-panel');
  const events = page.subs.get(page.selected)?.events ?? [];
  const { x, series, xName } = progressSeries(events);
  const names = Object.keys(series);
  wrap.hidden = names.length === 0;
  if (names.length === 0) return;
  const select = $('progress-series');
  if ([...select.options].map((o) => o.value).join('\n') !== names.join('\n')) {
    const keep = select.value;
    select.replaceChildren(...names.map((n) => el('option', { value: n, text: n })));
    select.value = names.includes(keep) ? keep : names.includes('energy') ? 'energy' : names[0];
  }
  const name = select.value;
  // uPlot needs x in order; a retried job starts its count again, so fall back to the event's place.
  const ordered = x.every((v, i) => i === 0 || v > x[i - 1]);
  const xs = ordered ? x : x.map((_, i) => i + 1);
  $('progress-x').textContent = ordered ? xName : 'event';
  chart ??= new LineChart(box, { time: false, label: xName });
  chart.set(xs, { [name]: series[name] }, { log: wantsLog(series[name]) });
}

function drawProgressSoon() {
  if (!chartFrame) chartFrame = requestAnimationFrame(drawProgress);
}

// ---- Actions -----------------------------------------------------------------------------------

async function jobAction(action) {
  const id = page.selected;
  if (!id) return;
  try {
    const record = await api(`/v1/jobs/${encodeURIComponent(id)}/${action}`, { method: 'POST', body: {} });
    const job = upsertRecord(record);
    paintRow(job);
    paintFacts(job.record);
    // A retried job has a new stream tail after its terminal event: follow it again.
    if (!FINAL.has(record.state)) resubscribe(id);
    setStatus(`Job ${idTail(id)}: ${action} requested`);
  } catch (err) {
    setStatus(`Could not ${action} job ${idTail(id)}: ${err.message}`);
  }
}

on('select', (id) => void select(id));
on('job-event', (event) => {
  if (page.selected !== event.jobId) return;
  appendLog(event);
  const job = page.jobs.get(event.jobId);
  if (job) paintFacts(job.record);
  if (event.type === 'progress') drawProgressSoon();
  // The final record carries the result as stored (events may be coalesced or trimmed).
  if (FINAL.has(event.type)) {
    api(`/v1/jobs/${encodeURIComponent(event.jobId)}`)
      .then((record) => {
        const j = upsertRecord(record);
        paintRow(j);
        if (page.selected === record.id) paintFacts(j.record);
      })
      // Only a refresh of what the events already showed: the next list poll tries again.
      .catch(() => {});
  }
});
on('tick', () => {
  const job = page.selected ? page.jobs.get(page.selected) : undefined;
  if (job && job.record.state === 'running') $('detail-facts').querySelector('[data-fact="duration"]').textContent = runTime(job.record);
});

$('cancel-job').addEventListener('click', () => jobAction('cancel'));
$('retry-job').addEventListener('click', () => jobAction('retry'));
$('progress-series').addEventListener('change', drawProgress);
