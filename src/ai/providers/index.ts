import { ConfigError } from '../../errors.js';
import type { LanguageModel, ProviderSettings } from '../provider.js';
import { SchemaChecks, withSchemaChecks } from '../structured-output.js';
import { providerRegistry, type LanguageModelOptions, type ProviderType } from './registry.js';

export { providerRegistry, PROVIDER_TYPES, type AdapterFactory, type LanguageModelOptions, type ProviderType } from './registry.js';

/**
 * The adapter for one configured provider, from the registry, with strict json_schema answers
 * checked (see structured-output.ts). It owns an undici Pool: call close() when done.
 */
export function createLanguageModel(name: string, settings: ProviderSettings, options: LanguageModelOptions = {}): LanguageModel {
  const factory = Object.hasOwn(providerRegistry, settings.type) ? providerRegistry[settings.type as ProviderType] : undefined;
  if (!factory) {
    throw new ConfigError(
      `providers.${name}.type "${settings.type}" is not a provider type: use one of ${Object.keys(providerRegistry).join(', ')}`,
      {
        details: { setting: `providers.${name}.type` },
      },
    );
  }
  return withSchemaChecks(factory(name, settings, options), new SchemaChecks());
}

export { parseRetryAfterMs } from './http/retry-after.js';
