import type { UpstreamErrorInfo } from '../http/status.js';
import { isObject, type WireErrorBody } from './wire-types.js';

/** Reads an error body in the forms OpenAI-compatible servers use; never throws. */
export function parseErrorBody(text: string): UpstreamErrorInfo {
  let body: WireErrorBody;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isObject(parsed)) return { message: text };
    body = parsed as WireErrorBody;
  } catch {
    // Kept whole (the body read is bounded): it is cut only after secrets are replaced (quoteUpstream).
    return text.trim() ? { message: text.trim() } : {};
  }
  const info: UpstreamErrorInfo = {};
  const e = body.error;
  if (typeof e === 'string') info.message = e;
  else if (isObject(e)) {
    if (typeof e.message === 'string') info.message = e.message;
    if (typeof e.type === 'string') info.type = e.type;
    if (typeof e.code === 'string' || typeof e.code === 'number') info.code = String(e.code);
  }
  if (info.message === undefined && typeof body.message === 'string') info.message = body.message;
  if (info.type === undefined && typeof body.error_type === 'string') info.type = body.error_type;
  return info;
}
