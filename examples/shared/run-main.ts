/**
 * What every example's main.ts shares: start the app, print "listening <url>" as the first
 * stdout line, close everything on SIGINT/SIGTERM.
 */
export interface Started {
  url: string;
  /** Printed under the URL: what to try. */
  hints?: string[];
  close(): Promise<void>;
}

export interface RunOptions {
  /** A line of advice for a start failure this example knows (a database down, a key missing). */
  explain?(err: unknown): string | undefined;
}

/** The socket error code of a failure, wherever it sits (the error, its cause, an AggregateError). */
function socketCode(err: unknown): { code: string; where?: string } | undefined {
  for (let e: any = err, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code))
      return { code: e.code, where: e.address ? `${e.address}:${e.port}` : undefined };
    e = Array.isArray(e.errors) && e.errors.length ? e.errors[0] : e.cause;
  }
  return undefined;
}

/**
 * A start failure as a person should read it: one line saying what failed, one saying what to do;
 * exit 2 for a configuration problem, 1 otherwise. The stack is only for TASKLANE_DEBUG=1.
 */
function failStart(err: unknown, options: RunOptions): never {
  const e = err as { code?: unknown; message?: unknown; stack?: unknown };
  const sock = socketCode(err);
  const what =
    typeof e.code === 'string' && e.code.startsWith('TL_ERR_')
      ? `${e.code}: ${String(e.message)}`
      : sock
        ? `${sock.code}${sock.where ? ` at ${sock.where}` : ''}: ${String(e.message || 'a connection failed')}`
        : String(e.message ?? err);
  process.stderr.write(`the example could not start: ${what}\n`);
  const advice = options.explain?.(err);
  if (advice) process.stderr.write(`  ${advice}\n`);
  if (process.env.TASKLANE_DEBUG === '1' && typeof e.stack === 'string') process.stderr.write(`${e.stack}\n`);
  process.exit(typeof e.code === 'string' && e.code.startsWith('TL_ERR_CONFIG') ? 2 : 1);
}

export async function runMain(start: () => Promise<Started>, options: RunOptions = {}): Promise<void> {
  let app: Started;
  try {
    app = await start();
  } catch (err) {
    failStart(err, options);
  }
  process.stdout.write(`listening ${app.url}\n`);
  for (const hint of app.hints ?? []) process.stdout.write(`  ${hint}\n`);
  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** True when any of the variables is set, in the environment or in .env (already loaded by the caller). */
export { socketCode };

export function anySet(env: NodeJS.ProcessEnv, names: string[]): boolean {
  return names.some((n) => (env[n] ?? '').trim() !== '');
}
