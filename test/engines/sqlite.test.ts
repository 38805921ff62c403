import { join } from 'node:path';
import { SqliteJobEngine } from '../../src/jobs/engines/sqlite/sqlite-engine.js';
import { tempDir } from '../support/runtime.js';
import { engineConformance, type EngineFactory } from './conformance.js';
import { workflowConformance } from './conformance-workflows.js';
import { limitsConformance } from './conformance-limits.js';

const factory: EngineFactory = {
  name: 'sqlite',
  async open() {
    const tmp = tempDir('tasklane-engine-');
    const path = join(tmp.dir, 'nested', 'tasklane.db');
    return {
      engine: new SqliteJobEngine({ path }),
      another: async () => new SqliteJobEngine({ path }),
      destroy: async () => tmp.remove(),
    };
  },
};

engineConformance(factory);
workflowConformance(factory);
limitsConformance(factory);
