import { describe, expect, it } from 'vitest';
import { Routes, capTimeouts } from '../../src/ai/route.js';
import { loadConfig } from '../../src/config/index.js';

const config = () =>
  loadConfig({
    dotenv: false,
    env: {},
    config: {
      providers: {
        a: { type: 'openai-compatible', baseURL: 'http://127.0.0.1:1/v1', timeouts: { firstByteMs: 7_000 } },
        b: { type: 'ollama', baseURL: 'http://127.0.0.1:2' },
      },
      ai: { maxAttempts: 3 },
      models: {
        fast: [
          { provider: 'a', model: 'm1' },
          { provider: 'b', model: 'm2' },
        ],
        careful: { targets: [{ provider: 'b', model: 'm3' }], timeouts: { totalMs: 9_000 }, maxAttempts: 2, continuation: true },
      },
    },
  });

describe('Routes', () => {
  let routes: Routes;

  it('resolves aliases in order with layered timeouts', () => {
    routes = new Routes(config());
    const fast = routes.resolve('fast');
    expect(fast.targets.map((t) => t.id)).toEqual(['a/m1', 'b/m2']);
    expect(fast.maxAttempts).toBe(3);
    expect(fast.continuation).toBe(false);
    expect(fast.targets[0]!.timeouts.firstByteMs).toBe(7_000);
    expect(fast.targets[1]!.timeouts.firstByteMs).toBe(30_000);
    const careful = routes.resolve('careful');
    expect(careful).toMatchObject({ maxAttempts: 2, continuation: true });
    expect(careful.targets[0]!.timeouts.totalMs).toBe(9_000);
  });

  it('resolves provider/model for a configured provider, keeping slashes in the model id', () => {
    routes = new Routes(config());
    const r = routes.resolve('a/org/model-x');
    expect(r.targets).toHaveLength(1);
    expect(r.targets[0]).toMatchObject({ provider: 'a', model: 'org/model-x' });
    expect(routes.resolve('a/org/model-x')).toBe(r);
  });

  it('answers an unknown model with TL_ERR_AI_UNKNOWN_MODEL naming what exists', () => {
    routes = new Routes(config());
    for (const name of ['nope', 'zz/m1', 'a/']) {
      try {
        routes.resolve(name);
        expect.unreachable();
      } catch (err) {
        expect(err).toMatchObject({ code: 'TL_ERR_AI_UNKNOWN_MODEL', httpStatus: 404 });
        expect((err as Error).message).toContain('fast, careful');
      }
    }
    expect(routes.list()).toEqual([
      {
        id: 'fast',
        targets: [
          { provider: 'a', model: 'm1' },
          { provider: 'b', model: 'm2' },
        ],
      },
      { id: 'careful', targets: [{ provider: 'b', model: 'm3' }] },
    ]);
  });

  it('lets a request only shorten timeouts, never below 1 ms, and caps by the time left', () => {
    const base = { connectMs: 100, firstByteMs: 1_000, idleChunkMs: 500, totalMs: 5_000 };
    expect(capTimeouts(base, { firstByteMs: 50, totalMs: 99_999 }, 2_000)).toEqual({
      connectMs: 100,
      firstByteMs: 50,
      idleChunkMs: 500,
      totalMs: 2_000,
    });
    expect(capTimeouts(base, undefined, -5).totalMs).toBe(1);
  });
});
