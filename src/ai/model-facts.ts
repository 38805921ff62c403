import type { ModelFacts } from '../config/index.js';

/** `providers.<p>.models` as written: a list of names, or a map of name → facts. */
export type DeclaredModels = string[] | Record<string, ModelFacts> | undefined;

/** The names a provider declares. */
export function modelNames(models: DeclaredModels): string[] {
  if (!models) return [];
  return Array.isArray(models) ? models : Object.keys(models);
}

/** What a provider declares of one model (context window, prefill, price), if it uses the map form. */
export function modelFacts(models: DeclaredModels, model: string): ModelFacts | undefined {
  if (!models || Array.isArray(models) || !Object.hasOwn(models, model)) return undefined;
  return models[model];
}

/** A provider's settings as adapters see them (ProviderSettings): its models as a list of names. */
export function withModelNames<P extends { models?: DeclaredModels }>(p: P): Omit<P, 'models'> & { models?: string[] } {
  return p.models === undefined || Array.isArray(p.models)
    ? (p as Omit<P, 'models'> & { models?: string[] })
    : { ...p, models: modelNames(p.models) };
}
