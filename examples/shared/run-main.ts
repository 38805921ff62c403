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

export async function runMain(start: () => Promise<Started>): Promise<void> {
  const app = await start();
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
export function anySet(env: NodeJS.ProcessEnv, names: string[]): boolean {
  return names.some((n) => (env[n] ?? '').trim() !== '');
}
