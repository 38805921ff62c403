import { WebSocket } from 'ws';
import type { JobEvent } from '../../../src/jobs/types.js';

/** A JSON call; answers status and body. */
export async function api(url: string, method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export interface SseFrame {
  id?: string;
  event?: string;
  data: string;
}

/** Reads a whole SSE answer (until the server ends it) with a deadline; raw frames and comments. */
export async function readSse(
  url: string,
  init: RequestInit = {},
  deadlineMs = 20_000,
): Promise<{ status: number; frames: SseFrame[]; comments: string[]; events: JobEvent[] }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(deadlineMs) });
  const text = await res.text();
  const frames: SseFrame[] = [];
  const comments: string[] = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim()) continue;
    const frame: SseFrame = { data: '' };
    let isFrame = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push(line.slice(1).trim());
      else {
        isFrame = true;
        const i = line.indexOf(':');
        const field = line.slice(0, i);
        const value = line.slice(i + 1).replace(/^ /, '');
        if (field === 'data') frame.data += value;
        else if (field === 'id') frame.id = value;
        else if (field === 'event') frame.event = value;
      }
    }
    if (isFrame) frames.push(frame);
  }
  const events = res.status === 200 ? frames.filter((f) => f.event !== 'error').map((f) => JSON.parse(f.data) as JobEvent) : [];
  return { status: res.status, frames, comments, events };
}

/** A WebSocket client that queues every message, with waits bounded in time. */
export class TestSocket {
  readonly ws: WebSocket;
  readonly messages: any[] = [];
  closed?: { code: number; reason: string };
  #waiters: Array<() => void> = [];

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()));
      this.#wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake();
    });
    this.ws.on('error', () => this.#wake());
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  /** Events received for a job, in arrival order. */
  events(jobId?: string): JobEvent[] {
    return this.messages.filter((m) => m.type === 'event' && (!jobId || m.event.jobId === jobId)).map((m) => m.event as JobEvent);
  }

  async until(pred: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; last messages: ${JSON.stringify(this.messages.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 500));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ws.terminate();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}

/** Seqs must be 1..n (or from+1..n) with no hole and no duplicate. */
export function assertContiguous(events: JobEvent[], from = 0): void {
  events.forEach((e, i) => {
    if (e.seq !== from + i + 1) throw new Error(`event ${i} has seq ${e.seq}, expected ${from + i + 1}`);
  });
}

/** Polls a job until it reaches one of the states (bounded). */
export async function waitForState(url: string, id: string, states: string[], key?: string, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api(url, 'GET', `/v1/jobs/${id}`, undefined, key);
    if (states.includes(r.body?.state)) return r.body;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${r.body?.state} after ${timeoutMs} ms (wanted ${states.join('|')})`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** The value of tasklane_job_streams_open for a transport. */
export async function streamsOpen(url: string, transport: 'sse' | 'ws'): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`tasklane_job_streams_open\\{transport="${transport}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/** Polls until the check passes (bounded). */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}
