import { StoreError } from '../../errors.js';
import type { Host } from '../../runtime/host.js';
import { Accountant } from './accountant.js';
import { SqliteSpendStore } from './sqlite-spend-store.js';
import type { SpendStore } from './spend-store.js';

export { Accountant, estimateTokens, type Ticket } from './accountant.js';
export type { SpendStore, SpendRow, JobCost } from './spend-store.js';

/**
 * Accounting is on when the configuration asks for it: a price (ai.prices, ai.pricesFile or a
 * target's `price`), or a client key with a budget or token limit. Off, nothing is read or
 * written per call.
 */
export function accountingWanted(config: Host['config']): boolean {
  if (Object.keys(config.ai.prices).length > 0) return true;
  if (config.server.apiKeys.some((k) => k.budget || k.limits?.tokensPerMinute)) return true;
  if (Object.values(config.providers).some((p) => p.models && !Array.isArray(p.models) && Object.values(p.models).some((m) => m.price)))
    return true;
  return Object.values(config.models).some((r) => (Array.isArray(r) ? r : r.targets).some((t) => t.price));
}

/** The accountant for a runtime, on the given store (Redis) or a SQLite one; undefined when off. */
export function accountantFor(host: Host, store: SpendStore | undefined, sqlitePath: string | undefined): Accountant | undefined {
  if (!accountingWanted(host.config)) return undefined;
  const onError = (err: Error) =>
    host.reportError(new StoreError('TL_ERR_STORE_UNAVAILABLE', `spend store ${sqlitePath}: ${host.scrub(err.message)}`, { cause: err }));
  const spend = store ?? (sqlitePath ? new SqliteSpendStore(sqlitePath, onError) : undefined);
  if (!spend) return undefined;
  // Registered before the orchestrator's closer, so it closes after the calls that charge it.
  host.onClose('ai-spend', () => spend.close());
  return new Accountant(host, spend);
}
