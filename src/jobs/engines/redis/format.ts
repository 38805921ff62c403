/**
 * The format version of the data under a Redis prefix (`P:meta`, field `format`), so a binary can
 * tell old records from new ones in a rolling upgrade and refuses data from a newer one.
 *
 * Versions: 1 = written before versions were recorded; 2 = jobs may carry an owner (`ownerKey`,
 * `ownerTenant`, indexes `P:idx:o:*`, `P:idx:ten:*`). Going from 1 to 2 rewrites nothing (a record
 * without owner fields has no owner), so it is safe while an older server still runs, and start()
 * records it; a later step that is not must be left to `tasklane migrate`.
 */
import { StoreError } from '../../../errors.js';

export const REDIS_FORMAT = 2;

export interface FormatAnswer {
  /** The version found (0 = nothing stored under the prefix yet). */
  found: number;
  /** The version recorded once the call returns. */
  now: number;
}

/** TL_ERR_STORE_TOO_NEW unless the found version is one this binary knows. */
export function assertKnown(prefix: string, answer: FormatAnswer): FormatAnswer {
  if (answer.found > REDIS_FORMAT) {
    throw new StoreError(
      'TL_ERR_STORE_TOO_NEW',
      `the Redis prefix "${prefix}" has format version ${answer.found}, newer than version ${REDIS_FORMAT} that this tasklane knows; run the newer tasklane, or point store.prefix elsewhere`,
      { details: { prefix, found: answer.found, supported: REDIS_FORMAT } },
    );
  }
  return answer;
}
