/**
 * Finish reasons in OpenAI's words. TGI and vLLM say `eos_token` / `eos`, some say `max_tokens` or
 * `model_length`; anything else passes through unchanged.
 */
const ALIASES: Record<string, string> = {
  eos: 'stop',
  eos_token: 'stop',
  stop_sequence: 'stop',
  end_turn: 'stop',
  max_tokens: 'length',
  model_length: 'length',
  tool_use: 'tool_calls',
  function_call: 'function_call',
};

export function mapFinishReason(reason: string | null | undefined): string {
  if (!reason) return 'stop';
  return ALIASES[reason] ?? reason;
}
