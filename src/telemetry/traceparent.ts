/**
 * W3C Trace Context `traceparent` values (https://www.w3.org/TR/trace-context/): parsed, made and
 * continued without the OpenTelemetry SDK, so a request is traced through (and answered with a
 * traceparent) even when no exporter is configured.
 */

export interface TraceIds {
  traceId: string;
  spanId: string;
  /** Bit 0: sampled. */
  flags: number;
}

const VERSION_00 = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The ids of a traceparent header, or undefined when it is not a valid one (then a new trace starts). */
export function parseTraceparent(header: unknown): TraceIds | undefined {
  if (typeof header !== 'string' || header.length > 512) return undefined;
  // The usual case (version 00, nothing around it) without a capturing match: this runs per request.
  if (header.length === 55 && VERSION_00.test(header)) {
    const traceId = header.slice(3, 35);
    const spanId = header.slice(36, 52);
    if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
    return { traceId, spanId, flags: Number.parseInt(header.slice(53), 16) };
  }
  const m = FORMAT.exec(header.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  // Version ff is forbidden; version 00 has exactly four fields. Later versions may add fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, flags: Number.parseInt(flags, 16) };
}

export function formatTraceparent(ids: TraceIds): string {
  return `00-${ids.traceId}-${ids.spanId}-${(ids.flags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * A child of the incoming traceparent (same trace, a new span id, its flags), or the root of a new
 * trace when there is none. Not sampled when new: nothing records it.
 */
export function continueTrace(header: unknown): string {
  const parent = parseTraceparent(header);
  return formatTraceparent({ traceId: parent?.traceId ?? randomHex(16), spanId: randomHex(8), flags: parent?.flags ?? 0 });
}

/** Two hex digits of every byte value (Number#toString(16) is slow on the hot path). */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Four random bytes as hex, from Math.random. */
function hex4(): string {
  const n = (Math.random() * 0x1_0000_0000) >>> 0;
  return HEX[n >>> 24]! + HEX[(n >>> 16) & 255]! + HEX[(n >>> 8) & 255]! + HEX[n & 255]!;
}

/**
 * `bytes` (a multiple of 4) random bytes as lowercase hex, never all zero (an invalid id). From
 * Math.random, as the OpenTelemetry SDK's own id generator: ids must be unique, not secret, and a
 * getrandom() call per request costs microseconds on a busy machine.
 */
export function randomHex(bytes: number): string {
  for (;;) {
    let hex = '';
    for (let i = 0; i < bytes; i += 4) hex += hex4();
    if (hex !== ZERO_TRACE && hex !== ZERO_SPAN) return hex;
  }
}
