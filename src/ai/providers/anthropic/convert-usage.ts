import type { Usage } from '../../types.js';

type Obj = Record<string, unknown>;
const n = (v: unknown) => (typeof v === 'number' ? v : 0);

/** Anthropic counts cached prompt tokens apart; OpenAI's prompt_tokens include them. */
export function convertUsage(u: Obj | undefined, outputOverride?: number): Usage | undefined {
  if (!u) return undefined;
  const prompt = n(u.input_tokens) + n(u.cache_creation_input_tokens) + n(u.cache_read_input_tokens);
  const completion = outputOverride ?? n(u.output_tokens);
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (n(u.cache_read_input_tokens) > 0) usage.prompt_tokens_details = { cached_tokens: n(u.cache_read_input_tokens) };
  return usage;
}
