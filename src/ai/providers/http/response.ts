import { providerError, where } from './provider-error.js';
import { errorForStatus, type UpstreamErrorInfo } from './status.js';
import type { UpstreamResponse } from './upstream.js';

/** Largest error body we read, and largest answer. */
const MAX_ERROR_BYTES = 64 * 1024;
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/**
 * Throws the ProviderError for a non-2xx answer (reading its body for the reason), after ending
 * the call. Returns for a 2xx answer, the body unread.
 */
export async function failOnStatus(
  res: UpstreamResponse,
  parseError: (text: string) => UpstreamErrorInfo,
  apiKey: string | undefined,
): Promise<void> {
  if (res.status >= 200 && res.status < 300) return;
  let text = '';
  try {
    text = await res.body.text(MAX_ERROR_BYTES);
  } catch {
    // Swallowed on purpose: the status already says what failed; a body we cannot read adds nothing.
  }
  res.guard.finish();
  throw errorForStatus(res.status, res.headers, parseError(text), res.guard.ctx, apiKey);
}

/** Reads a 2xx body as JSON and ends the call; malformed JSON is a ProviderError. */
export async function readJson(res: UpstreamResponse): Promise<unknown> {
  return (await readJsonText(res)).body;
}

/** readJson, with the body's text beside what it parsed to (for a pass-through, ai/raw.ts). */
export async function readJsonText(res: UpstreamResponse): Promise<{ body: unknown; text: string }> {
  const { guard } = res;
  try {
    const text = await res.body.text(MAX_ANSWER_BYTES);
    try {
      return { body: JSON.parse(text), text };
    } catch {
      throw providerError('malformed', guard.ctx, `${where(guard.ctx)} answered with a body that is not JSON`);
    }
  } catch (err) {
    throw guard.errorFor(err);
  } finally {
    guard.finish();
  }
}

/** A 2xx body that is JSON but not the expected shape. */
export const malformed = (res: UpstreamResponse, what: string) =>
  providerError('malformed', res.guard.ctx, `${where(res.guard.ctx)} answered without ${what}`);
