import { describe, expect, it } from 'vitest';
import { providerSchema } from '../../../src/config/schema.js';
import { PROVIDER_TYPES, createLanguageModel, providerRegistry } from '../../../src/spi.js';

const settings = { baseURL: 'http://127.0.0.1:9', apiKeys: [], headers: {}, prefill: false, connections: 1 };

describe('the provider registry', () => {
  it('is where the config enum comes from: every registry entry is a valid type, nothing else is', () => {
    expect(PROVIDER_TYPES).toEqual(Object.keys(providerRegistry));
    for (const type of PROVIDER_TYPES) expect(providerSchema.safeParse({ type, baseURL: settings.baseURL }).success, type).toBe(true);
    expect(providerSchema.safeParse({ type: 'not-an-adapter', baseURL: settings.baseURL }).success).toBe(false);
  });

  it('builds each adapter through its entry, reporting its type', async () => {
    for (const type of PROVIDER_TYPES) {
      const model = createLanguageModel('p', { ...settings, type });
      expect(model.type).toBe(type);
      await model.close();
    }
  });

  it('refuses a type it does not know with a ConfigError naming the setting and the choices', () => {
    expect(() => createLanguageModel('p', { ...settings, type: 'nope' })).toThrow(
      /providers\.p\.type "nope" is not a provider type: use one of openai-compatible, huggingface, ollama, anthropic, gemini/,
    );
  });
});
