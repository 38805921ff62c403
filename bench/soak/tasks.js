// The soak's tasks: progress on the loop (most jobs), and a little CPU work in a thread lane.
import { setTimeout as sleep } from 'node:timers/promises';
import { defineTask } from '../../dist/index.js';

export const work = defineTask(
  {
    name: 'soak.work',
    lane: 'soak',
    maxAttempts: 2,
    async run(input, ctx) {
      for (let i = 1; i <= input.steps; i++) {
        await sleep(input.ms, undefined, { signal: ctx.signal });
        ctx.progress({ i, of: input.steps });
        if (i % 5 === 0) ctx.log(`step ${i}`);
      }
      return { steps: input.steps };
    },
  },
  import.meta.url,
);

export const cpu = defineTask(
  {
    name: 'soak.cpu',
    lane: 'soakcpu',
    run(input, ctx) {
      let x = 0;
      for (let i = 1; i <= input.steps; i++) {
        const until = performance.now() + 2;
        while (performance.now() < until) x += Math.sqrt(i);
        ctx.progress({ i, of: input.steps });
      }
      return { steps: input.steps, x: Math.round(x) };
    },
  },
  import.meta.url,
);
