import { describe, expect, it } from 'vitest';
import { MemoryResponseCache } from '../../src/ai/cache.js';
import { requestKey } from '../../src/ai/request-key.js';

describe('requestKey and MemoryResponseCache', () => {
  const base = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }], temperature: 0 };

  it('ignores field order and delivery fields, but not content', () => {
    const k = requestKey(base);
    expect(requestKey({ temperature: 0, messages: base.messages, model: 'm' })).toBe(k);
    expect(requestKey({ ...base, stream: true, stream_options: { include_usage: true } })).toBe(k);
    expect(requestKey({ ...base, temperature: 1 })).not.toBe(k);
    expect(requestKey({ ...base, messages: [{ role: 'user', content: 'hi!' }] })).not.toBe(k);
  });

  it('evicts past maxEntries and expires after ttlMs', async () => {
    const cache = new MemoryResponseCache({ maxEntries: 2, ttlMs: 50 });
    const answer = (id: string) => ({
      completion: { id, object: 'chat.completion' as const, created: 0, model: 'm', choices: [] },
      provider: 'p',
      model: 'm',
      keyIndex: 0,
    });
    cache.set('a', answer('a'));
    cache.set('b', answer('b'));
    cache.set('c', answer('c'));
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('c')?.completion.id).toBe('c');
    await new Promise((r) => setTimeout(r, 80));
    expect(cache.get('c')).toBeUndefined();
  });
});
