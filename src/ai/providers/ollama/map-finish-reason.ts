/** Ollama's `done_reason` in OpenAI's words: `stop`, `length`; `load`/`unload` never end a chat. */
export function mapFinishReason(reason: string | undefined): string {
  if (!reason || reason === 'stop') return 'stop';
  if (reason === 'length') return 'length';
  return reason;
}
