/**
 * Built-in demo tasks, registered unless the config says `"demo": false`, so a fresh server has
 * something to run: `demo.progress` on the loop and `demo.cpu` in a thread.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineTask } from './task.js';

/** Emits `steps` progress events `{ step, of }`, `ms` apart, then returns `{ steps }`. */
export const demoProgress = defineTask(
  {
    name: 'demo.progress',
    lane: 'demo',
    input: z
      .object({ steps: z.number().int().min(0).max(100_000).default(10), ms: z.number().int().min(0).max(60_000).default(100) })
      .strict(),
    async run(input, ctx) {
      for (let step = 1; step <= input.steps; step++) {
        if (input.ms > 0) await sleep(input.ms, undefined, { signal: ctx.signal });
        else if (ctx.signal.aborted) throw ctx.signal.reason;
        ctx.progress({ step, of: input.steps });
      }
      return { steps: input.steps };
    },
  },
  import.meta.url,
);

/** Burns CPU in a thread for `ms`, reporting progress every 10 %. Never looks at its signal: a cancel terminates its thread after the grace period. */
export const demoCpu = defineTask(
  {
    name: 'demo.cpu',
    lane: 'data',
    input: z.object({ ms: z.number().int().min(0).max(600_000) }).strict(),
    run(input, ctx) {
      const started = Date.now();
      let spins = 0;
      let reported = 0;
      for (;;) {
        const elapsed = Date.now() - started;
        const percent = input.ms === 0 ? 100 : Math.min(100, Math.floor((elapsed / input.ms) * 10) * 10);
        while (reported < percent) {
          reported += 10;
          ctx.progress({ percent: reported });
        }
        if (elapsed >= input.ms) break;
        for (let i = 0; i < 10_000; i++) spins += Math.sqrt(i);
      }
      return { ms: Date.now() - started, spins: Math.round(spins) };
    },
  },
  import.meta.url,
);

/** The lane demo.progress runs in, added when the config has none by that name. */
export const DEMO_LANE = { name: 'demo', placement: 'loop', concurrency: 16, maxQueue: 1000, timeoutMs: 600_000 } as const;
