/** Plain HTTP helpers for gateway tests: one call, its status, headers and body (JSON or SSE events). */
export interface GatewayAnswer {
  status: number;
  headers: Headers;
  json?: any;
  /** SSE data payloads in order (parsed JSON, or the raw text such as "[DONE]"). */
  events?: any[];
  done?: boolean;
  text: string;
  ms: number;
}

export async function callGateway(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<GatewayAnswer> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  const out: GatewayAnswer = { status: res.status, headers: res.headers, text, ms };
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    out.events = text
      .split('\n\n')
      .filter((b) => b.startsWith('data: '))
      .map((b) => {
        const d = b.slice(6);
        try {
          return JSON.parse(d);
        } catch {
          return d;
        }
      });
    out.done = out.events.at(-1) === '[DONE]';
  } else if (text) {
    out.json = JSON.parse(text);
  }
  return out;
}

/** The text of an SSE answer. */
export function sseText(events: any[] = []): string {
  return events.map((e) => (typeof e === 'object' ? (e.choices?.[0]?.delta?.content ?? '') : '')).join('');
}
