import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The two public entries, pinned: `tasklane` (src/index.ts) for applications and `tasklane/spi`
 * (src/spi.ts) for engine and adapter authors. Adding or removing a name is a decision: change the
 * list here in the same commit and say why.
 */
const PUBLIC_VALUES = [
  'NonRetryableError',
  'NotFoundError',
  'TasklaneError',
  'ValidationError',
  'buildServer',
  'createRuntime',
  'defineResource',
  'defineTask',
  'errorCodes',
  'listen',
  'loadConfig',
];
const PUBLIC_TYPES = [
  'AiMeta',
  'ChatRequest',
  'ChatResult',
  'ConfigInput',
  'ErrorCode',
  'JobEvent',
  'JobRecord',
  'JobState',
  'RoutePlugin',
  'Runtime',
  'RuntimeOptions',
  'ServerContext',
  'TaskContext',
  'TaskDef',
  'WorkContext',
];
const SPI_VALUES = [
  'AbortError',
  'ClosedError',
  'ConfigError',
  'ProviderError',
  'FINAL_STATES',
  'JobError',
  'MemoryCooldownStore',
  'MemoryResponseCache',
  'PROVIDER_SPEC',
  'PROVIDER_TYPES',
  'SqliteJobEngine',
  'StoreError',
  'TERMINAL_EVENTS',
  'createLanguageModel',
  'errorBody',
  'errorFromJSON',
  'providerRegistry',
  'toTasklaneError',
];
const SPI_TYPES = [
  'AdapterFactory',
  'BreakerBoard',
  'CachedAnswer',
  'Claim',
  'ClaimOptions',
  'CooldownStore',
  'EmbedCallOptions',
  'EmbedResult',
  'EngineEnqueueOptions',
  'FinishOutcome',
  'Host',
  'JobEngine',
  'LanguageModel',
  'LanguageModelOptions',
  'Logger',
  'PendingEvent',
  'PhaseTimeouts',
  'ProviderCallOptions',
  'ProviderErrorDetails',
  'ProviderErrorKind',
  'ProviderSettings',
  'ProviderType',
  'ResolvedConfig',
  'ResponseCache',
  'SerializedError',
  'SqliteEngineOptions',
  'StreamPart',
  'TasklaneErrorOptions',
];

const sorted = (names: Iterable<string>) => [...names].sort((a, b) => a.localeCompare(b));

/** Every name a module exports, types included, as the TypeScript compiler sees it. */
function exportedNames(files: string[]): Map<string, string[]> {
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  return new Map(
    files.map((f) => [f, sorted(checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(f)!)!).map((s) => s.name))]),
  );
}

describe('public API surface', () => {
  it('tasklane exports these values at run time, and tasklane/spi these', async () => {
    expect(sorted(Object.keys(await import('../src/index.js')))).toEqual(sorted(PUBLIC_VALUES));
    expect(sorted(Object.keys(await import('../src/spi.js')))).toEqual(sorted(SPI_VALUES));
  });

  it('tasklane and tasklane/spi export exactly these names, types included', () => {
    const index = fileURLToPath(new URL('../src/index.ts', import.meta.url));
    const spi = fileURLToPath(new URL('../src/spi.ts', import.meta.url));
    const names = exportedNames([index, spi]);
    expect(names.get(index)).toEqual(sorted([...PUBLIC_VALUES, ...PUBLIC_TYPES]));
    expect(names.get(spi)).toEqual(sorted([...SPI_VALUES, ...SPI_TYPES]));
  }, 60_000);
});
