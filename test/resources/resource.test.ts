import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { fixture } from '../lanes/helpers.js';

let t: TestRuntime;
let dir: string;
beforeEach(async () => {
  t = await testRuntime();
  dir = mkdtempSync(join(tmpdir(), 'tasklane-resources-'));
});
afterEach(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

type Out = { threadId: number; id: number; creates: number; sameByName: boolean };

describe('per-thread resources in a thread lane', () => {
  it('are created once per thread that asks, never shared, and closed when the runtime closes', async () => {
    const lane = t.runtime.lanes.add({ name: 'res', placement: 'thread', concurrency: 2, maxQueue: 100, timeoutMs: 10_000 });
    const file = join(dir, 'closed.txt');
    // Two rounds: the second runs on threads that already hold the resource.
    const outs: Out[] = [];
    for (let round = 0; round < 2; round++) {
      outs.push(...(await Promise.all(Array.from({ length: 6 }, () => lane.run<Out>(fixture('resource'), { file, ms: 60 })))));
    }
    const threads = new Set(outs.map((o) => o.threadId));
    expect(threads.size).toBe(2);
    for (const out of outs) {
      expect(out.creates).toBe(1);
      expect(out.id).toBe(1);
      expect(out.sameByName).toBe(true);
    }
    expect(() => readFileSync(file)).toThrow(); // nothing closed yet
    const report = await t.runtime.close();
    expect(report.timedOut).toEqual([]);
    const closed = readFileSync(file, 'utf8').trim().split('\n').map(Number).sort();
    expect(closed).toEqual([...threads].sort());
  });
});
