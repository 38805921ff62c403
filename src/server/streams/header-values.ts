/**
 * What may go into an HTTP header. Node throws ERR_INVALID_CHAR on a value with a control
 * character (or past Latin-1), and once a stream's first byte is out that throw has nowhere to go:
 * inbound values that will become headers are refused at the edge (`hasControlCharacters`), and
 * every value we write is made safe (`headerValue`) so a header write never throws.
 */

// The characters Node refuses in a header value (lib/_http_common.js checkInvalidHeaderChar).
const INVALID_IN_HEADER = /[^\t\x20-\x7e\x80-\xff]/g;
const CONTROL = /[\x00-\x1f\x7f]/;

/** The value with every character a header cannot carry replaced by `?`. */
export function headerValue(value: string): string {
  return value.replace(INVALID_IN_HEADER, '?');
}

/** The headers with every value made safe. */
export function headerValues(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = headerValue(v);
  return out;
}

/** True when the text holds a C0 control character or DEL (CR, LF, NUL, ESC...). */
export function hasControlCharacters(text: string): boolean {
  return CONTROL.test(text);
}
