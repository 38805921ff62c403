import { beforeAll } from 'vitest';
import { RedisJobEngine } from '../../src/jobs/engines/redis/redis-engine.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../support/redis.js';
import { engineConformance, type EngineFactory } from './conformance.js';
import { workflowConformance } from './conformance-workflows.js';
import { limitsConformance } from './conformance-limits.js';

beforeAll(() => requireRedis());

const factory: EngineFactory = {
  name: 'redis',
  async open() {
    // A fresh prefix per test is a fresh, empty store; another() is a second process's view of it.
    const prefix = testPrefix('conformance');
    const make = () => new RedisJobEngine({ url: REDIS_URL, prefix, leaseMs: 10_000, recoverEveryMs: 250, onError: () => {} });
    return {
      engine: make(),
      another: async () => {
        const e = make();
        await e.start();
        return e;
      },
      destroy: async () => {
        await deleteKeys(prefix);
      },
    };
  },
};

engineConformance(factory);
workflowConformance(factory);
limitsConformance(factory);
