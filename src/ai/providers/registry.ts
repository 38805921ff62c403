/**
 * The provider registry: the one place a new adapter is added. The config's `providers.<name>.type`
 * enum and the ProviderType type are derived from it, and createLanguageModel builds from it.
 * An adapter is a class implementing LanguageModel (src/ai/provider.ts) built from ProviderSettings.
 */
import type { Logger } from '../../runtime/logger.js';
import type { LanguageModel, ProviderSettings } from '../provider.js';
import { AnthropicModel } from './anthropic/anthropic-model.js';
import { GeminiModel } from './gemini/gemini-model.js';
import { HuggingFaceModel } from './huggingface/huggingface-model.js';
import { OllamaModel } from './ollama/ollama-model.js';
import { OpenAICompatibleModel } from './openai-compatible/openai-compatible-model.js';

export interface LanguageModelOptions {
  /** Where the adapter says what it did to the connection pool (debug level). */
  log?: Logger;
}

/** Builds the adapter for one configured provider. */
export type AdapterFactory = (name: string, settings: ProviderSettings, options: LanguageModelOptions) => LanguageModel;

export const providerRegistry = {
  /** OpenAI and every server speaking its /v1 (Groq, OpenRouter, Mistral, Together, vLLM, Ollama's /v1...). */
  'openai-compatible': (name, settings, options) => new OpenAICompatibleModel(name, settings, options),
  /** Hugging Face Inference (TGI chat, feature extraction for embeddings). */
  huggingface: (name, settings, options) => new HuggingFaceModel(name, settings, options),
  /** Ollama's native /api. */
  ollama: (name, settings, options) => new OllamaModel(name, settings, options),
  /** Anthropic's native Messages API. */
  anthropic: (name, settings, options) => new AnthropicModel(name, settings, options),
  /** Google Gemini's native generateContent API. */
  gemini: (name, settings, options) => new GeminiModel(name, settings, options),
} as const satisfies Record<string, AdapterFactory>;

/** A provider type the registry knows. */
export type ProviderType = keyof typeof providerRegistry;

/** The registry's names, for the config schema's enum. */
export const PROVIDER_TYPES = Object.keys(providerRegistry) as [ProviderType, ...ProviderType[]];
