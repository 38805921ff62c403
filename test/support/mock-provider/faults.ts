/**
 * Fault names the mock understands, as a model suffix (`gpt-mock@429`), an `x-mock-fault` header,
 * a per-key rule or a programmatic result. A fault may carry one number after a colon
 * (`429:3` = Retry-After 3 s, `slow-first:500` = first byte after 500 ms).
 */
export const FAULTS = [
  '429', // 429 with Retry-After in seconds, once per key+model
  '429-ms', // 429 with retry-after-ms, once per key+model
  '429-always', // 429 with Retry-After on every call
  '500-once', // 500 once per key+model, then answers
  '503-always',
  'reset', // TCP reset before headers
  'hang', // no response at all; the socket stays open
  'slow-first', // headers and first byte after N ms
  'slow-body', // headers at once, first body byte after N ms
  'cut', // stream: socket destroyed mid-answer (no finish, no [DONE])
  'cut-clean', // stream: response ended cleanly mid-answer (no finish, no [DONE])
  'stall', // stream: stops sending mid-answer, socket kept open
  'malformed', // stream: a non-JSON data line mid-answer (N of them with `malformed:N`), then the rest as usual
  'no-done', // stream: finish_reason (and usage) sent, then close without [DONE]
  'finish-stall', // stream: finish_reason (and usage) sent, then silence with the socket open
  'context-length', // 400 with OpenAI's context_length_exceeded (422 validation error in TGI flavour)
  'content-filter', // 400 with code content_filter
  'content-filter-finish', // 200, answer stopped with finish_reason content_filter
  'flap', // alternates 503 / ok per key+model, failing first
  '401', // bad key
  '403', // this key may not use this model (the body says why)
  'prefill-reject', // 400 when the last message is an assistant prefill
] as const;

export type FaultName = (typeof FAULTS)[number];

export interface Fault {
  name: FaultName;
  /** The number after the colon, if any. */
  arg?: number;
}

/** Parses `name` or `name:number`; unknown names throw so a typo in a test fails loudly. */
export function parseFault(text: string | undefined): Fault | undefined {
  if (!text) return undefined;
  const [name, arg] = text.split(':', 2) as [string, string | undefined];
  if (!(FAULTS as readonly string[]).includes(name))
    throw new Error(`mock provider: unknown fault "${text}" (known: ${FAULTS.join(', ')})`);
  const fault: Fault = { name: name as FaultName };
  if (arg !== undefined) {
    const n = Number(arg);
    if (!Number.isFinite(n) || n < 0) throw new Error(`mock provider: fault "${text}" needs a non-negative number after the colon`);
    fault.arg = n;
  }
  return fault;
}

/** The fault in a model name after '@', e.g. `gpt-mock@slow-first:500`. */
export function faultFromModel(model: string | undefined): string | undefined {
  if (!model) return undefined;
  const at = model.lastIndexOf('@');
  return at >= 0 ? model.slice(at + 1) : undefined;
}
