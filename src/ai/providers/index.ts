import type { ResolvedProvider } from '../../config/index.js';
import type { Logger } from '../../runtime/index.js';
import type { LanguageModel } from '../provider.js';
import { SchemaChecks, withSchemaChecks } from '../structured-output.js';
import { AnthropicModel } from './anthropic/anthropic-model.js';
import { GeminiModel } from './gemini/gemini-model.js';
import { HuggingFaceModel } from './huggingface/huggingface-model.js';
import { OllamaModel } from './ollama/ollama-model.js';
import { OpenAICompatibleModel } from './openai-compatible/openai-compatible-model.js';

export interface LanguageModelOptions {
  /** Where the adapter says what it did to the connection pool (debug level). */
  log?: Logger;
}

/**
 * The adapter for one configured provider, with strict json_schema answers checked (see
 * structured-output.ts). It owns an undici Pool: call close() when done.
 */
export function createLanguageModel(name: string, providerConfig: ResolvedProvider, options: LanguageModelOptions = {}): LanguageModel {
  return withSchemaChecks(adapterFor(name, providerConfig, options), new SchemaChecks());
}

function adapterFor(name: string, providerConfig: ResolvedProvider, options: LanguageModelOptions): LanguageModel {
  switch (providerConfig.type) {
    case 'openai-compatible':
      return new OpenAICompatibleModel(name, providerConfig, options);
    case 'huggingface':
      return new HuggingFaceModel(name, providerConfig, options);
    case 'ollama':
      return new OllamaModel(name, providerConfig, options);
    case 'anthropic':
      return new AnthropicModel(name, providerConfig, options);
    case 'gemini':
      return new GeminiModel(name, providerConfig, options);
  }
}

export { parseRetryAfterMs } from './http/retry-after.js';
