/**
 * Provider checks behind `tasklane doctor` and `runtime.checkProviders()`: for every configured provider and every one of its
 * keys, list the models (the cheapest authenticated call there is) and time it. A check never
 * shows a key, only its index.
 */
import { modelNames, withModelNames } from './model-facts.js';
import type { ResolvedConfig } from '../config/index.js';
import { makeScrubber } from '../config/index.js';
import { aiError, TasklaneError } from '../errors.js';
import { createLanguageModel } from './providers/index.js';
import type { LanguageModel } from './provider.js';
import type { Logger } from '../runtime/logger.js';

export type CheckStatus = 'ok' | 'refused' | 'unreachable' | 'timeout' | 'error';

export interface ProviderCheck {
  provider: string;
  type: string;
  /** Index of the key in providers.<name>.apiKeys; -1 when the provider has no key. */
  keyIndex: number;
  status: CheckStatus;
  /** Models the provider listed (when reachable). */
  models: number;
  /** Configured models (providers.<name>.models) the provider did not list. */
  missingModels: string[];
  latencyMs: number;
  /** Why it failed, in words (never a key). */
  detail?: string;
}

export interface CheckOptions {
  /** Budget of each check, in ms (connect, first byte and total). Default 5000. */
  timeoutMs?: number;
  signal?: AbortSignal;
  log: Logger;
}

/** Checks every provider and key of the configuration, all at once; rows in configuration order. */
export async function checkProviders(config: ResolvedConfig, options: CheckOptions): Promise<ProviderCheck[]> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const scrub = makeScrubber(config.secrets);
  const models: LanguageModel[] = [];
  try {
    const checks: Array<Promise<ProviderCheck>> = [];
    for (const [name, provider] of Object.entries(config.providers)) {
      const model = createLanguageModel(name, withModelNames(provider), { log: options.log.child({ provider: name }) });
      models.push(model);
      const keys: Array<string | undefined> = provider.apiKeys.length > 0 ? provider.apiKeys : [undefined];
      keys.forEach((apiKey, i) => {
        checks.push(
          checkOne(
            model,
            { provider: name, type: provider.type, keyIndex: apiKey === undefined ? -1 : i, expected: modelNames(provider.models) },
            apiKey,
            timeoutMs,
            scrub,
            options.signal,
          ),
        );
      });
    }
    return await Promise.all(checks);
  } finally {
    await Promise.all(models.map((m) => m.close()));
  }
}

async function checkOne(
  model: LanguageModel,
  row: { provider: string; type: string; keyIndex: number; expected: string[] },
  apiKey: string | undefined,
  timeoutMs: number,
  scrub: (text: string) => string,
  outer: AbortSignal | undefined,
): Promise<ProviderCheck> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(aiError('TL_ERR_AI_TIMEOUT', `no answer within ${timeoutMs} ms`)), timeoutMs);
  const onOuter = () => controller.abort(outer!.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  const t0 = performance.now();
  const base = { provider: row.provider, type: row.type, keyIndex: row.keyIndex };
  try {
    const listed = await model.doListModels({
      apiKey,
      signal: controller.signal,
      timeouts: { connectMs: timeoutMs, firstByteMs: timeoutMs, idleChunkMs: timeoutMs, totalMs: timeoutMs },
    });
    // Ollama lists tags: "llama3.2" is served as "llama3.2:latest".
    const have = new Set(listed);
    return {
      ...base,
      status: 'ok',
      models: listed.length,
      missingModels: row.expected.filter((m) => !have.has(m) && !have.has(`${m}:latest`)),
      latencyMs: ms(t0),
    };
  } catch (err) {
    const { status, detail } = classify(err, controller.signal.aborted);
    return { ...base, status, models: 0, missingModels: [], latencyMs: ms(t0), detail: scrub(detail) };
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

function classify(err: unknown, timedOut: boolean): { status: CheckStatus; detail: string } {
  const e = TasklaneError.isInstance(err) ? err : undefined;
  const kind = e?.details.kind as string | undefined;
  const httpStatus = e?.details.status as number | undefined;
  // The adapter's message names the provider (already in the row) and no key: keep what went wrong.
  const message = (err instanceof Error ? err.message : String(err)).replace(/ \((?:model|key)[^)]*\)/g, '');
  if (kind === 'auth' || e?.code === 'TL_ERR_AI_AUTH' || httpStatus === 401 || httpStatus === 403) {
    return { status: 'refused', detail: `the key was refused${httpStatus ? ` (HTTP ${httpStatus})` : ''}` };
  }
  if (kind === 'timeout' || e?.code === 'TL_ERR_AI_TIMEOUT' || timedOut) return { status: 'timeout', detail: message };
  if (kind === 'connect') return { status: 'unreachable', detail: message };
  return { status: 'error', detail: httpStatus ? `HTTP ${httpStatus}: ${message}` : message };
}

function ms(t0: number): number {
  return Math.round(performance.now() - t0);
}

/** An aligned text table of the checks (never a key: only its index). */
export function formatChecks(rows: ProviderCheck[]): string {
  const header = ['PROVIDER', 'TYPE', 'KEY', 'AUTH', 'MODELS', 'LATENCY', 'DETAIL'];
  const body = rows.map((r) => [
    r.provider,
    r.type,
    r.keyIndex < 0 ? '-' : `#${r.keyIndex}`,
    r.status,
    r.status === 'ok' ? String(r.models) : '-',
    `${r.latencyMs} ms`,
    r.detail ?? (r.missingModels.length > 0 ? `not listed: ${r.missingModels.join(', ')}` : ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}
