import type { RuntimeKernel } from './kernel.js';

/**
 * SIGTERM / SIGINT close the runtime gracefully; a second signal exits at once.
 * Returns a function that removes the handlers.
 */
export function handleSignals(
  runtime: Pick<RuntimeKernel, 'log' | 'close'> & Partial<Pick<RuntimeKernel, 'reload'>>,
  onClosed: (code: number) => void,
): () => void {
  // SIGHUP reloads the configuration (docs/operations.md); a refusal is logged and changes nothing.
  const hup = (): void => {
    runtime.reload?.().then(
      (report) =>
        runtime.log.info({ applied: report.applied, restartRequired: report.restartRequired, via: 'SIGHUP' }, 'configuration reloaded'),
      (err: Error) => runtime.log.error({ err, via: 'SIGHUP' }, err.message),
    );
  };
  if (runtime.reload) process.on('SIGHUP', hup);
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
    process.off('SIGHUP', hup);
  };
}
