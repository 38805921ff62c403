import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { priceSchema, type PriceConfig } from './schema.js';

/**
 * Reads `ai.pricesFile` (a JSON object keyed `"<provider>/<model>"`, the shape of `ai.prices`) and
 * merges it under the inline table: a price written in the config wins over the shared file's.
 */
export function withPricesFile<A extends { prices: Record<string, PriceConfig>; pricesFile?: string | undefined }>(
  ai: A,
  baseDir: string,
): A {
  if (ai.pricesFile === undefined) return ai;
  const file = isAbsolute(ai.pricesFile) ? ai.pricesFile : resolve(baseDir, ai.pricesFile);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`ai.pricesFile: ${file} cannot be read as JSON (${(err as Error).message}); fix the path or the file`, {
      code: 'TL_ERR_CONFIG_FILE',
      details: { setting: 'ai.pricesFile', file },
    });
  }
  const parsed = z.record(priceSchema).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(
      `ai.pricesFile: ${file} at "${issue.path.join('.')}": ${issue.message}; each entry is "<provider>/<model>": { "input": <USD per 1M>, "output": <USD per 1M>, "cachedInput"?: <USD per 1M> }`,
      { details: { setting: 'ai.pricesFile', file } },
    );
  }
  return { ...ai, prices: { ...parsed.data, ...ai.prices } };
}
