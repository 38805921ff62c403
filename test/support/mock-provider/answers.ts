/** The mock's deterministic answers: an echo of the last user message, split into chunks. */

export interface WireMessage {
  role: string;
  content?: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
      .join('');
  return '';
}

/** The whole echo answer for these messages, ignoring a trailing assistant prefill. */
export function echoAnswer(messages: WireMessage[]): string {
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  return `echo: ${textOf(lastUser?.content)}`;
}

/** The assistant text to continue from, when the last message is an assistant message. */
export function prefillOf(messages: WireMessage[]): string | undefined {
  const last = messages.at(-1);
  return last?.role === 'assistant' ? textOf(last.content) : undefined;
}

/** Continues `prefill` when it is a prefix of the whole answer; otherwise a fixed continuation. */
export function continueFrom(full: string, prefill: string | undefined): string {
  if (prefill === undefined) return full;
  return full.startsWith(prefill) ? full.slice(prefill.length) : ' (continued)';
}

const words = (s: string) => (s.trim() === '' ? 0 : s.trim().split(/\s+/).length);

export function usageFor(messages: WireMessage[], answer: string): Usage {
  const prompt = messages.reduce((n, m) => n + words(textOf(m.content)), 0);
  const completion = Math.max(1, words(answer));
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** Splits into pieces of about 6 characters, at least 3 pieces when the text allows. */
export function chunk(text: string): string[] {
  if (text.length === 0) return [];
  const size = Math.max(1, Math.min(6, Math.floor(text.length / 3)));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}
