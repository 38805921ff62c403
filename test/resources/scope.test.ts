import { describe, expect, it } from 'vitest';
import { defineResource, ResourceScope } from '../../src/resources/index.js';

describe('ResourceScope', () => {
  it('creates a resource lazily and once, even for concurrent first calls', async () => {
    let created = 0;
    const def = defineResource({ name: 'r', create: async () => ({ n: ++created }) });
    const scope = new ResourceScope();
    expect(created).toBe(0);
    const values = await Promise.all([scope.get(def), scope.get(def), scope.get('r')]);
    expect(created).toBe(1);
    expect(new Set(values).size).toBe(1);
    expect(scope.opened).toEqual(['r']);
  });

  it('finds definitions by name through register() or the lookup, and rejects unknown names', async () => {
    const a = defineResource({ name: 'a', create: () => 'A' });
    const b = defineResource({ name: 'b', create: () => 'B' });
    const scope = new ResourceScope((name) => (name === 'b' ? b : undefined));
    scope.register(a);
    await expect(scope.get('a')).resolves.toBe('A');
    await expect(scope.get('b')).resolves.toBe('B');
    await expect(scope.get('c')).rejects.toMatchObject({ code: 'TL_ERR_RESOURCE_UNKNOWN', details: { resource: 'c' } });
  });

  it('forgets a failed creation so that the next call tries again', async () => {
    let calls = 0;
    const def = defineResource({
      name: 'flaky',
      create: () => {
        if (++calls === 1) throw new Error('first try fails');
        return 'ok';
      },
    });
    const scope = new ResourceScope();
    await expect(scope.get(def)).rejects.toThrow('first try fails');
    await expect(scope.get(def)).resolves.toBe('ok');
    expect(await scope.close()).toEqual([]);
  });

  it('closes newest first, reports failures without throwing, and refuses use after close', async () => {
    const closed: string[] = [];
    const one = defineResource({ name: 'one', create: () => 1, close: () => void closed.push('one') });
    const two = defineResource({
      name: 'two',
      create: () => 2,
      close: () => {
        closed.push('two');
        throw new Error('close failed');
      },
    });
    const scope = new ResourceScope();
    await scope.get(one);
    await scope.get(two);
    expect(await scope.close()).toEqual([{ name: 'two', error: 'close failed' }]);
    expect(closed).toEqual(['two', 'one']);
    await expect(scope.get(one)).rejects.toMatchObject({ code: 'TL_ERR_RUNTIME_CLOSED' });
  });

  it('defineResource checks its input', () => {
    expect(() => defineResource({ name: '', create: () => 1 })).toThrow(TypeError);
    expect(() => defineResource({ name: 'x', create: 1 as never })).toThrow(/create must be a function/);
  });
});
