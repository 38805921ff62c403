/**
 * The experiment as a durable job: validated input, one attempt (a solver run is deterministic;
 * a failure would fail again), run in the `solver` thread lane.
 */
import { z } from 'zod';
import { defineTask } from '../../src/index.js';
import { runExperiment, type ExperimentInput, type ExperimentResult } from './solver.js';

export const experimentInput = z
  .object({
    size: z.number().int().min(4).max(1_000).default(200),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(42),
    tolerance: z.number().positive().max(1).default(1e-9),
    maxIterations: z.number().int().min(1).max(100_000).default(5_000),
    /** A pause after each iteration, in ms, to watch the curve converge on the dashboard. */
    stepDelayMs: z.number().int().min(0).max(1_000).default(0),
  })
  .strict();

export const solveExperiment = defineTask<ExperimentInput, ExperimentResult>(
  {
    name: 'experiments.solve',
    lane: 'solver',
    input: experimentInput,
    maxAttempts: 1,
    run: (input, ctx) => runExperiment(input, ctx),
  },
  import.meta.url,
);
