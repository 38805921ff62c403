import type { Usage } from '../../types.js';
import type { WireUsage } from './wire-types.js';

/** Usage with every count present; undefined when the upstream sent none. */
export function convertUsage(raw: WireUsage | null | undefined): Usage | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const prompt = typeof raw.prompt_tokens === 'number' ? raw.prompt_tokens : 0;
  const completion = typeof raw.completion_tokens === 'number' ? raw.completion_tokens : 0;
  const total = typeof raw.total_tokens === 'number' ? raw.total_tokens : prompt + completion;
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
  const cached = raw.prompt_tokens_details?.cached_tokens;
  if (typeof cached === 'number' && cached > 0) usage.prompt_tokens_details = { cached_tokens: cached };
  return usage;
}
