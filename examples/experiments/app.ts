/**
 * Experiments: `POST /experiments` starts a solver run as a job; its convergence
 * `{iteration, energy, residual}` streams to every client following the job over the WebSocket
 * at /v1/ws (or SSE at /v1/jobs/:id/events), in order, replayable from any seq.
 */
import {
  NotFoundError,
  ValidationError,
  createRuntime,
  listen,
  type ConfigInput,
  type RoutePlugin,
  type Runtime,
} from '../../src/index.js';
import { experimentInput, solveExperiment } from './tasks.js';

export interface ExperimentsOptions {
  config?: ConfigInput;
  env?: NodeJS.ProcessEnv;
  dotenv?: boolean;
  logDestination?: { write(line: string): unknown };
}

export async function startExperiments(
  options: ExperimentsOptions = {},
): Promise<{ runtime: Runtime; url: string; close(): Promise<void> }> {
  const runtime = await createRuntime({
    config: {
      ...options.config,
      // Two solver threads: CPU-bound runs in parallel, never on the event loop.
      lanes: { solver: { placement: 'thread', concurrency: 2, timeoutMs: 300_000 }, ...options.config?.lanes },
    },
    env: options.env,
    dotenv: options.dotenv ?? false,
    logDestination: options.logDestination,
  });
  try {
    runtime.jobs.register(solveExperiment);
    const server = await listen(runtime, { routes: [experimentRoutes] });
    return { runtime, url: server.url, close: async () => void (await runtime.close()) };
  } catch (err) {
    await runtime.close();
    throw err;
  }
}

export const experimentRoutes: RoutePlugin = async (app, { runtime, requireScope }) => {
  app.post('/experiments', async (req, reply) => {
    requireScope(req, 'jobs:write');
    const parsed = experimentInput.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ValidationError(`${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const job = await runtime.jobs.enqueue(solveExperiment.name, parsed.data);
    return reply.code(202).send({
      experimentId: job.id,
      state: job.state,
      // Follow it: {"op":"subscribe","jobId":"<id>","fromSeq":0} on the WebSocket, or SSE.
      websocket: '/v1/ws',
      events: `/v1/jobs/${job.id}/events`,
    });
  });

  app.get<{ Params: { id: string } }>('/experiments/:id', async (req) => {
    requireScope(req, 'jobs:read');
    const job = await runtime.jobs.get(req.params.id);
    if (!job || job.task !== solveExperiment.name) throw new NotFoundError(`no experiment ${req.params.id}`);
    return { experimentId: job.id, state: job.state, latest: job.progress ?? null, result: job.result ?? null, error: job.error ?? null };
  });
};
