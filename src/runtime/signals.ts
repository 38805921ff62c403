import type { RuntimeKernel } from './kernel.js';

/**
 * SIGTERM / SIGINT close the runtime gracefully; a second signal exits at once.
 * Returns a function that removes the handlers.
 */
export function handleSignals(runtime: Pick<RuntimeKernel, 'log' | 'close'>, onClosed: (code: number) => void): () => void {
  let seen = false;
  const handler = (signal: NodeJS.Signals) => {
    if (seen) {
      process.exit(130);
    }
    seen = true;
    runtime.log.info({ signal }, 'closing');
    runtime.close().then(
      (report) => onClosed(report.timedOut.length || report.failed.length ? 1 : 0),
      () => onClosed(1),
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
