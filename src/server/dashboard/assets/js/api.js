// HTTP to the server with the client key kept in this tab's sessionStorage, and the key prompt.
import { $, setStatus } from './dom.js';
import { emit, KEY_STORAGE, page } from './state.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** `quiet403`: a 403 is the caller's to handle (the admin-only AI log), not a reason to ask for a key. */
export async function api(path, { method = 'GET', body, quiet403 = false } = {}) {
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
    if (res.status === 401 || (res.status === 403 && !quiet403)) needKey(apiErr);
    throw apiErr;
  }
  return data;
}

export function needKey(err) {
  page.blocked = true;
  const msg = $('key-message');
  if (err.status === 403) {
    msg.textContent = `This key may not read the dashboard (${err.message}). Enter a key with the jobs:read or admin scope.`;
  } else if (page.key) {
    msg.textContent = `The server refused this key (${err.message}). Enter a valid client key.`;
  } else {
    msg.textContent =
      'Key required: this server needs a client key. Enter one of the keys from server.apiKeys; it stays in this browser tab only.';
  }
  $('key-panel').hidden = false;
  setStatus('Key required');
  emit('blocked');
  $('key-input').focus();
}

export function useKey(key) {
  page.key = key;
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  page.blocked = false;
  page.aiLogForbidden = false;
  $('key-panel').hidden = true;
  $('key-input').value = '';
  emit('key-changed');
}
