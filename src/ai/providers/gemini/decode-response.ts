import { quoteUpstream } from '../http/status.js';
import { providerError, where, type CallContext } from '../http/provider-error.js';
import type { Step } from '../http/stream-driver.js';
import type { Usage } from '../../types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Finish reasons that mean a safety system stopped the answer. */
const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'LANGUAGE']);

export function mapFinishReason(reason: unknown, calledTools: boolean): string {
  if (reason === 'MAX_TOKENS') return 'length';
  if (typeof reason === 'string' && FILTERED.has(reason)) return 'content_filter';
  return calledTools ? 'tool_calls' : 'stop';
}

export function convertUsage(u: unknown): Usage | undefined {
  if (!isObj(u)) return undefined;
  const prompt = typeof u.promptTokenCount === 'number' ? u.promptTokenCount : 0;
  const completion =
    (typeof u.candidatesTokenCount === 'number' ? u.candidatesTokenCount : 0) +
    (typeof u.thoughtsTokenCount === 'number' ? u.thoughtsTokenCount : 0);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: typeof u.totalTokenCount === 'number' ? u.totalTokenCount : prompt + completion,
  };
}

/** A prompt Gemini refused outright (promptFeedback.blockReason, no candidate): the content filter. */
export function blockedPrompt(body: Obj, ctx: CallContext) {
  const fb = isObj(body.promptFeedback) ? body.promptFeedback : undefined;
  if (!fb || typeof fb.blockReason !== 'string' || (Array.isArray(body.candidates) && body.candidates.length > 0)) return undefined;
  return providerError('content_filter', ctx, `${where(ctx)} blocked the prompt (${fb.blockReason})`, { status: 400 });
}

/**
 * One GenerateContentResponse (a whole answer, or one chunk of streamGenerateContent) → steps.
 * Text parts are text (thought parts are not), functionCall parts are whole tool calls with ids
 * made up, a candidate's finishReason the finish, usageMetadata the usage.
 */
export function responseDecoder(ctx: CallContext): (body: unknown) => Step[] {
  let calls = 0;
  let started = false;
  const id = `chatcmpl-gemini-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  return (body) => {
    if (!isObj(body))
      return [{ kind: 'error', error: providerError('malformed', ctx, `${where(ctx)} sent a chunk that is not a JSON object`) }];
    if (isObj(body.error)) {
      const message = typeof body.error.message === 'string' ? body.error.message : 'an error';
      return [
        {
          kind: 'error',
          error: providerError('stream_broken', ctx, `${where(ctx)} reported an error inside the stream: ${quoteUpstream(message, ctx)}`),
        },
      ];
    }
    const blocked = blockedPrompt(body, ctx);
    if (blocked) return [{ kind: 'error', error: blocked }];
    const steps: Step[] = [];
    if (!started) {
      started = true;
      steps.push({
        kind: 'start',
        id: typeof body.responseId === 'string' ? body.responseId : id,
        model: typeof body.modelVersion === 'string' ? body.modelVersion : ctx.model,
        created: Math.floor(Date.now() / 1000),
      });
    }
    const cand = Array.isArray(body.candidates) ? body.candidates.find((c) => isObj(c) && (c.index ?? 0) === 0) : undefined;
    const parts = isObj(cand) && isObj(cand.content) && Array.isArray(cand.content.parts) ? cand.content.parts : [];
    for (const p of parts) {
      if (!isObj(p) || p.thought === true) continue;
      if (typeof p.text === 'string' && p.text) steps.push({ kind: 'text', text: p.text });
      else if (isObj(p.functionCall)) {
        const index = calls++;
        steps.push({
          kind: 'tool-call',
          index,
          id: typeof p.functionCall.id === 'string' ? p.functionCall.id : `call_${index}_${Math.random().toString(36).slice(2, 10)}`,
          name: String(p.functionCall.name ?? ''),
          arguments: JSON.stringify(p.functionCall.args ?? {}),
        });
      }
    }
    if (isObj(cand) && typeof cand.finishReason === 'string' && cand.finishReason !== 'FINISH_REASON_UNSPECIFIED')
      steps.push({ kind: 'finish-reason', reason: mapFinishReason(cand.finishReason, calls > 0) });
    const usage = convertUsage(body.usageMetadata);
    if (usage) steps.push({ kind: 'usage', usage });
    return steps;
  };
}
