import type { Usage } from '../../types.js';
import type { OllamaChatLine } from './wire-types.js';

/** Ollama counts prompt and answer tokens as `prompt_eval_count` and `eval_count`. */
export function convertUsage(line: OllamaChatLine): Usage | undefined {
  if (typeof line.prompt_eval_count !== 'number' && typeof line.eval_count !== 'number') return undefined;
  const prompt = line.prompt_eval_count ?? 0;
  const completion = line.eval_count ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
