// The page's one state object and its event bus; modules read and write it, nothing else is global.

export const KEY_STORAGE = 'tasklane.key';
export const REFRESH_MS = 2000;
export const PAGE_SIZE = 25;
/** Events kept per job in the page (the server keeps them all; the log says when older ones were trimmed). */
export const EVENT_CAP = 2000;
export const FINAL = new Set(['succeeded', 'dead', 'cancelled']);
export const STATES = ['queued', 'delayed', 'running', 'waiting', 'succeeded', 'dead', 'cancelled'];

export const page = {
  key: sessionStorage.getItem(KEY_STORAGE) || '',
  /** Polling stops while a key is needed. */
  blocked: false,
  /** The AI log needs the admin scope; a 403 there hides it instead of asking for another key. */
  aiLogForbidden: false,
  /** id → { record, row, pct, pctSeq, liveSeq } of the jobs on the current list page (and the selected one). */
  jobs: new Map(),
  /** id → { lastSeq, events, trimmed, done }: one WebSocket subscription per job, from seq 0. */
  subs: new Map(),
  selected: null,
  /** The list's filters and where it is: `cursors[i]` opens page i (page 0 has none). */
  list: { state: '', task: '', cursors: [undefined], index: 0, next: null },
  overview: null,
};

/** `job-event` (detail: the event), `selected` (detail: id), `refresh`. */
export const bus = new EventTarget();

export function emit(type, detail) {
  bus.dispatchEvent(new CustomEvent(type, { detail }));
}

export function on(type, fn) {
  bus.addEventListener(type, (e) => fn(e.detail));
}
