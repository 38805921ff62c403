/** Anthropic's stop_reason in OpenAI's words; a forced json tool's tool_use is a plain stop. */
export function mapStopReason(reason: unknown, jsonTool: boolean): string {
  switch (reason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return jsonTool ? 'stop' : 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}
