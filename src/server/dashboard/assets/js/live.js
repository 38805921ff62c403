// Live job events over one WebSocket: one subscription per job, from seq 0, resumed after a
// reconnect from the last seq seen. Browsers cannot put a header on a WebSocket, so the page
// mints a short-lived token with its key and puts that in the URL instead of the key.
import { api } from './api.js';
import { $, setStatus } from './dom.js';
import { idTail } from './format.js';
import { emit, EVENT_CAP, FINAL, on, page } from './state.js';

const live = { ws: null, retryMs: 1000, timer: 0, renewTimer: 0 };
/** A socket authenticated by a token ends when the token expires: a new one takes over this long before. */
const RENEW_BEFORE_MS = 10_000;

export function subscribe(jobId) {
  if (page.subs.has(jobId)) return;
  const sub = { lastSeq: 0, events: [], trimmed: false, done: false };
  page.subs.set(jobId, sub);
  sendSubscribe(jobId, sub);
}

/** Follows a job again after a retry gave its stream a new tail. */
export function resubscribe(jobId) {
  const sub = page.subs.get(jobId);
  if (!sub) return subscribe(jobId);
  if (!sub.done) return;
  sub.done = false;
  sendSubscribe(jobId, sub);
}

function sendSubscribe(jobId, sub) {
  if (live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify({ op: 'subscribe', jobId, fromSeq: sub.lastSeq }));
  else connectSoon();
}

export function dropSub(jobId) {
  const sub = page.subs.get(jobId);
  if (!sub) return;
  page.subs.delete(jobId);
  if (!sub.done && live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify({ op: 'unsubscribe', jobId }));
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
  if (FINAL.has(event.type)) sub.done = true;
  emit('job-event', event);
}

export function connectSoon(delay = 0) {
  if (live.ws || live.timer || page.blocked) return;
  live.timer = setTimeout(() => {
    live.timer = 0;
    connect().catch((err) => {
      setConn(false, `Live updates: off (${err.message})`);
      retryLater();
    });
  }, delay);
}

function retryLater() {
  if (page.blocked) return;
  const delay = live.retryMs;
  live.retryMs = Math.min(live.retryMs * 2, 15000);
  connectSoon(delay);
}

/**
 * Opens the socket. With a key, the token it carries expires: before it does, a second socket is
 * opened with a fresh token, every followed job is resubscribed from the last seq seen, and only
 * then the old socket is closed, so the page sees no gap (events seen twice are dropped by seq).
 */
async function connect(renewing = false) {
  if (live.ws && !renewing) return;
  let query = '';
  let expiresAt = 0;
  if (page.key) {
    const minted = await api('/v1/tokens', { method: 'POST', body: {} });
    query = `?token=${encodeURIComponent(minted.token)}`;
    expiresAt = minted.expiresAt || 0;
  }
  if ((live.ws && !renewing) || page.blocked) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/v1/ws${query}`);
  if (!renewing) live.ws = ws;
  ws.addEventListener('open', () => {
    const old = live.ws;
    live.ws = ws;
    if (old && old !== ws) old.close();
    live.retryMs = 1000;
    setConn(true, 'Live updates: on');
    for (const [jobId, sub] of page.subs) if (!sub.done) sendSubscribe(jobId, sub);
    scheduleRenewal(expiresAt);
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
    if (live.ws !== ws) return;
    live.ws = null;
    setConn(false, 'Live updates: off (reconnecting)');
    retryLater();
  });
}

function scheduleRenewal(expiresAt) {
  clearTimeout(live.renewTimer);
  if (!expiresAt) return;
  const ttl = expiresAt - Date.now();
  // Short tokens (a test's few seconds) renew at 80 % of their life, long ones 10 s before the end.
  const delay = Math.max(500, Math.min(ttl - RENEW_BEFORE_MS, ttl * 0.8));
  live.renewTimer = setTimeout(() => {
    connect(true).catch(() => {
      // The old socket goes on until its token ends; its close starts the usual reconnect.
    });
  }, delay);
}

function onSocketError(msg) {
  const err = msg.error || {};
  const jobId = msg.jobId;
  // The job is gone or not ours to read: stop asking for it.
  if (jobId && page.subs.has(jobId)) page.subs.get(jobId).done = true;
  setStatus(`Live update error${jobId ? ` for job ${idTail(jobId)}` : ''}: ${err.message || err.code || 'unknown'}`);
}

export function closeSocket() {
  if (live.timer) clearTimeout(live.timer);
  clearTimeout(live.renewTimer);
  live.timer = 0;
  const ws = live.ws;
  live.ws = null;
  if (ws) ws.close();
  setConn(false, 'Live updates: off');
}

function setConn(isOn, text) {
  const c = $('conn');
  c.textContent = text;
  c.className = `conn ${isOn ? 'on' : 'off'}`;
}

on('blocked', closeSocket);
on('key-changed', () => {
  closeSocket();
  live.retryMs = 1000;
});
