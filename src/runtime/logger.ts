import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths pino removes from every log line, wherever a key or token might sit. */
const REDACT = [
  'apiKey',
  'apiKeys',
  'key',
  'token',
  'authorization',
  'password',
  'secret',
  '*.apiKey',
  '*.apiKeys',
  '*.key',
  '*.token',
  '*.authorization',
  '*.password',
  '*.secret',
  'req.headers.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

/**
 * The runtime's logger: JSON lines, known secret paths censored, and every message and string
 * field passed through `scrub`, which replaces any configured secret value found in it.
 */
export function createLogger(options: { level: string; scrub: (text: string) => string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT, censor: '[redacted]' },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => scrubValue(a, options.scrub, 0)) as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

function scrubValue(value: unknown, scrub: (text: string) => string, depth: number): unknown {
  if (typeof value === 'string') return scrub(value);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    const copy = new Error(scrub(value.message));
    copy.name = value.name;
    copy.stack = value.stack ? scrub(value.stack) : undefined;
    for (const k of ['code', 'details'] as const) if (k in value) (copy as any)[k] = scrubValue((value as any)[k], scrub, depth + 1);
    return copy;
  }
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, scrub, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubValue(v, scrub, depth + 1);
  return out;
}
