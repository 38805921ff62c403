import type { ChatCompletion } from '../../types.js';
import { convertUsage } from './convert-usage.js';
import { mapFinishReason } from './map-finish-reason.js';
import type { WireCompletion } from './wire-types.js';

/** An upstream completion in our shape; undefined when it has no usable first choice. */
export function convertResponse(body: WireCompletion, fallbackModel: string): ChatCompletion | undefined {
  const choice = Array.isArray(body.choices) ? body.choices.find((c) => (c?.index ?? 0) === 0) : undefined;
  if (!choice || typeof choice.message !== 'object' || choice.message === null) return undefined;
  const { role: _role, content, ...rest } = choice.message;
  const usage = convertUsage(body.usage);
  return {
    id: typeof body.id === 'string' ? body.id : `chatcmpl-${Date.now().toString(36)}`,
    object: 'chat.completion',
    created: typeof body.created === 'number' ? body.created : Math.floor(Date.now() / 1000),
    model: typeof body.model === 'string' ? body.model : fallbackModel,
    choices: [
      {
        index: 0,
        message: { ...rest, role: 'assistant', content: typeof content === 'string' ? content : null },
        finish_reason: mapFinishReason(choice.finish_reason),
      },
    ],
    ...(usage ? { usage } : {}),
  };
}

/**
 * True when convertResponse changes nothing a client reads: one choice, an assistant message with
 * text (or null), a finish reason already in OpenAI's words, whole usage counts. Then the body
 * may go out as it came (ai/raw.ts).
 */
export function sameAsConverted(body: WireCompletion): boolean {
  if (typeof body.id !== 'string' || typeof body.created !== 'number' || typeof body.model !== 'string') return false;
  if (!Array.isArray(body.choices) || body.choices.length !== 1) return false;
  const choice = body.choices[0];
  if (!choice || (choice.index ?? 0) !== 0 || typeof choice.message !== 'object' || choice.message === null) return false;
  const { role, content } = choice.message as { role?: unknown; content?: unknown };
  if (role !== 'assistant' || (typeof content !== 'string' && content !== null)) return false;
  if (typeof choice.finish_reason !== 'string' || mapFinishReason(choice.finish_reason) !== choice.finish_reason) return false;
  const u = body.usage;
  if (u === undefined || u === null) return true;
  if (typeof u.prompt_tokens !== 'number' || typeof u.completion_tokens !== 'number' || typeof u.total_tokens !== 'number') return false;
  // convertUsage drops a zero cached count; the body would still say it (harmless, but not "the same").
  const cached = u.prompt_tokens_details?.cached_tokens;
  return cached === undefined || (typeof cached === 'number' && cached > 0);
}
