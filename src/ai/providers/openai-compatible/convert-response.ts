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
