// A workflow in the job detail: what a waiting job waits for, its parent, its steps as a timeline
// with their durations, and its children (each opens in the detail). Steps and children come
// from the job's full record (GET /v1/jobs/:id); a step that is running now, from its events.
import { api } from './api.js';
import { $, el } from './dom.js';
import { ago, duration, fullTime, idTail } from './format.js';
import { emit, FINAL, on, page } from './state.js';

const WORKFLOW_EVENTS = new Set(['waiting', 'woken', 'step.started', 'step.completed', 'step.failed', 'child.started', 'child.ended']);
let refetchTimer = 0;

export function paintWorkflow(record) {
  const waiting = record.state === 'waiting' && record.waitingFor ? record.waitingFor : undefined;
  const steps = stepsOf(record);
  const children = record.children ?? [];
  $('detail-workflow').hidden = !waiting && !record.parentId && steps.length === 0 && children.length === 0;
  paintWaiting(waiting, record.parentId);
  paintSteps(steps);
  paintChildren(children);
}

/** The stored steps, then the one running now (its `step.started` has no end yet), from the events. */
function stepsOf(record) {
  const steps = (record.steps ?? []).map((s) => ({ ...s }));
  const done = new Set(steps.map((s) => `${s.name}#${s.occurrence}`));
  const events = page.subs.get(record.id)?.events ?? [];
  const open = new Map();
  for (const e of events) {
    const key = `${e.data?.name}#${e.data?.occurrence}`;
    if (e.type === 'step.started') open.set(key, e);
    else if (e.type === 'step.completed' || e.type === 'step.failed' || e.type === 'step.replayed') open.delete(key);
  }
  if (record.state === 'running') {
    for (const [key, e] of open) {
      if (!done.has(key)) steps.push({ name: e.data.name, occurrence: e.data.occurrence, state: 'running', startedAt: e.at });
    }
  }
  return steps;
}

function paintWaiting(w, parentId) {
  const box = $('detail-waiting');
  box.replaceChildren();
  if (w) box.append(el('p', { class: 'waiting-for', 'data-kind': w.kind }, ...waitingText(w)));
  if (parentId) {
    const link = el('button', { type: 'button', class: 'link mono', text: idTail(parentId), title: parentId });
    link.addEventListener('click', () => emit('select', parentId));
    box.append(el('p', { class: 'parent' }, 'Child of job ', link));
  }
  box.hidden = box.childElementCount === 0;
}

function waitingText(w) {
  if (w.kind === 'signal') {
    const parts = ['Waiting for signal ', el('code', { text: w.name })];
    if (w.timeoutAt) parts.push(` (times out ${ago(w.timeoutAt)}, `, timeEl(w.timeoutAt), ')');
    return parts;
  }
  if (w.kind === 'sleep') return ['Sleeping until ', timeEl(w.until), ` (${ago(w.until)})`];
  if (w.kind === 'children') {
    const n = w.ids?.length ?? 0;
    return [`Waiting for ${n} child job${n === 1 ? '' : 's'} to end`];
  }
  return ['Waiting'];
}

function timeEl(at) {
  return el('time', { dateTime: fullTime(at), title: fullTime(at), text: new Date(at).toLocaleTimeString() });
}

function paintSteps(steps) {
  const list = $('step-timeline');
  $('steps-box').hidden = steps.length === 0;
  const now = Date.now();
  const spans = steps.map((s) => (s.state === 'running' ? now - s.startedAt : s.durationMs));
  const longest = Math.max(1, ...spans);
  const total = spans.reduce((a, b) => a + (b ?? 0), 0);
  $('steps-total').textContent = steps.length ? `${steps.length} step${steps.length === 1 ? '' : 's'}, ${duration(total)}` : '';
  list.replaceChildren(
    ...steps.map((s, i) => {
      // Occurrences count from 0: the second step of one name reads "#2".
      const name = s.occurrence > 0 ? `${s.name} #${s.occurrence + 1}` : s.name;
      const fill = el('span', { class: 'step-fill' });
      fill.style.width = `${Math.max(2, Math.round(((spans[i] ?? 0) / longest) * 100))}%`;
      const item = el(
        'li',
        { 'data-step': s.name, 'data-occurrence': String(s.occurrence), 'data-state': s.state },
        el('span', { class: 'step-name', text: name }),
        el('span', { class: `step-state state-${s.state}`, text: s.state }),
        el('span', { class: 'step-bar', 'aria-hidden': 'true' }, fill),
        el('span', { class: 'step-ms', text: s.state === 'running' ? `${duration(spans[i])} so far` : duration(s.durationMs) }),
      );
      if (s.error) item.append(el('span', { class: 'step-error', text: `${s.error.code}: ${s.error.message}` }));
      return item;
    }),
  );
}

function paintChildren(children) {
  $('children-box').hidden = children.length === 0;
  const ended = children.filter((c) => FINAL.has(c.state)).length;
  $('children-count').textContent = children.length ? `${ended} of ${children.length} ended` : '';
  $('children-body').replaceChildren(
    ...children.map((c) => {
      const link = el('button', { type: 'button', class: 'link mono', text: idTail(c.id), title: c.id });
      link.addEventListener('click', () => emit('select', c.id));
      return el(
        'tr',
        { 'data-child': c.id, 'data-state': c.state },
        el('td', { 'data-label': 'Job' }, link),
        el('td', { 'data-label': 'Task', text: c.task }),
        el('td', { 'data-label': 'State', class: `state-${c.state}`, text: c.state }),
      );
    }),
  );
}

/** A workflow event of the selected job: read its record again (steps and children live there). */
on('job-event', (event) => {
  if (page.selected !== event.jobId || !WORKFLOW_EVENTS.has(event.type)) return;
  const job = page.jobs.get(event.jobId);
  if (job) paintWorkflow(job.record);
  clearTimeout(refetchTimer);
  refetchTimer = setTimeout(() => {
    const id = page.selected;
    if (!id) return;
    api(`/v1/jobs/${encodeURIComponent(id)}`)
      .then((record) => {
        const j = page.jobs.get(id);
        if (!j || page.selected !== id) return;
        j.record = { ...j.record, ...record };
        paintWorkflow(j.record);
      })
      // The next event or list poll tries again.
      .catch(() => {});
  }, 150);
});

/** A running step's time goes on. */
on('tick', () => {
  const job = page.selected ? page.jobs.get(page.selected) : undefined;
  if (job && job.record.state === 'running' && !$('steps-box').hidden) paintSteps(stepsOf(job.record));
});
