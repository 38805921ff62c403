import { describe, expect, it } from 'vitest';
import { LoopMonitor } from '../../src/runtime/index.js';

describe('LoopMonitor', () => {
  it('reads near zero on an idle loop and sees a 200 ms block in max and utilization', async () => {
    const monitor = new LoopMonitor({ resolutionMs: 10, windowMs: 60_000 });
    try {
      await new Promise((r) => setTimeout(r, 1_200));
      const idle = monitor.snapshot();
      // Not the 10 ms timer resolution itself: the delay is what exceeds it.
      expect(idle.delayMs.p50).toBeLessThan(5);
      const until = performance.now() + 200;
      while (performance.now() < until) {
        // block the loop on purpose
      }
      await new Promise((r) => setTimeout(r, 50));
      const busy = monitor.snapshot();
      expect(busy.delayMs.max).toBeGreaterThanOrEqual(150);
      expect(busy.utilization).toBeGreaterThan(idle.utilization);
    } finally {
      monitor.close();
    }
  });
});
