/**
 * Seed 001: a solver in a worker thread broadcast its convergence over WebSocket through a
 * main-loop reference kept in a module global; broadcasts that failed were printed and dropped.
 * Here the solver runs in a thread lane, each step is a sequenced, stored job event, and a
 * WebSocket client gets every iteration in order and the completion — also when it reads slower
 * than the solver emits, and also when it joins after the run is over.
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { TasklaneClient, type JobEvent } from '../../src/client/index.js';
import { LogCapture, tempDir } from '../../test/support/runtime.js';
import { startExperiments } from './app.js';
import type { Convergence, ExperimentResult } from './solver.js';

const RUN = { size: 150, seed: 7, tolerance: 1e-12, maxIterations: 3_000 };

async function collect(events: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

/**
 * A raw WebSocket client that subscribes, then stops reading (the socket is paused) until told to
 * go on: the solver and the server run ahead of it. Resolves with every event once the server
 * says the stream ended.
 */
function slowReader(url: string, jobId: string): { resume(): void; received(): number; done: Promise<JobEvent[]> } {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`);
  const events: JobEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<JobEvent[]>((resolve, reject) => {
    // A stream that stalls once the reader resumes fails here with the count, not as a test timeout.
    const fail = () =>
      reject(new Error(`the slow reader stopped receiving after ${events.length} events (last seq ${events.at(-1)?.seq ?? 0})`));
    ws.on('message', () => {
      clearTimeout(timer);
      timer = setTimeout(fail, 10_000);
    });
    ws.on('open', () => {
      ws.send(JSON.stringify({ op: 'subscribe', jobId, fromSeq: 0 }));
      ws.pause();
    });
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { type: string; event?: JobEvent; reason?: string; error?: unknown };
      if (msg.type === 'event') events.push(msg.event!);
      else if (msg.type === 'error') reject(new Error(`socket error: ${JSON.stringify(msg.error)}`));
      else if (msg.type === 'unsubscribed') {
        clearTimeout(timer);
        ws.close();
        resolve(events);
      }
    });
    ws.on('error', reject);
    ws.on('close', (code) => (code === 1000 || code === 1005 ? undefined : reject(new Error(`socket closed with ${code}`))));
  });
  return {
    resume: () => {
      ws.resume();
      timer = setTimeout(
        () => ws.emit('error', new Error(`the slow reader received nothing within 10 s of resuming (${events.length} events so far)`)),
        10_000,
      );
    },
    received: () => events.length,
    done,
  };
}

/** Checks one client's view: seq 1..n with no hole or duplicate, every iteration in order, then success. */
function expectCompleteRun(events: JobEvent[], result: ExperimentResult): void {
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  const iterations = events.filter((e) => e.type === 'progress').map((e) => (e.data as Convergence).iteration);
  expect(iterations).toEqual(Array.from({ length: result.iterations }, (_, i) => i + 1));
  const last = events.at(-1)!;
  expect(last.type).toBe('succeeded');
  expect((last.data as { result: ExperimentResult }).result).toEqual(result);
}

describe('experiments (seed 001)', () => {
  let app: Awaited<ReturnType<typeof startExperiments>> | undefined;
  let tmp: ReturnType<typeof tempDir> | undefined;

  afterEach(async () => {
    await app?.close();
    tmp?.remove();
    app = tmp = undefined;
  });

  it('streams every iteration in order to a fast client and a slow one, and replays it all to a late one', async () => {
    tmp = tempDir('experiments-');
    app = await startExperiments({
      // A small high-water mark so the slow reader's subscription really has to wait for it.
      config: { server: { port: 0, streams: { wsHighWaterBytes: 4_096 } }, data: tmp.dir, log: { level: 'warn' } },
      logDestination: new LogCapture(),
    });
    const { url, runtime } = app;
    const client = new TasklaneClient({ url });

    const res = await fetch(`${url}/experiments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(RUN),
    });
    expect(res.status).toBe(202);
    const { experimentId } = (await res.json()) as { experimentId: string };

    const slow = slowReader(url, experimentId);
    const fast = collect(client.jobs.watch([experimentId], { signal: AbortSignal.timeout(20_000) }));

    // The solver finishes while the slow client has read (next to) nothing.
    const fastEvents = await fast;
    const record = await runtime.jobs.get(experimentId);
    expect(record?.state).toBe('succeeded');
    const result = record!.result as ExperimentResult;
    expect(result.converged).toBe(true);
    expect(result.iterations).toBeGreaterThan(100);
    expect(slow.received()).toBeLessThan(result.iterations);
    slow.resume();
    const slowEvents = await slow.done;

    expectCompleteRun(fastEvents, result);
    expectCompleteRun(slowEvents, result);
    expect(slowEvents).toEqual(fastEvents);

    // Power iteration: the energy goes down to the ground state and settles there.
    const energies = fastEvents.filter((e) => e.type === 'progress').map((e) => (e.data as Convergence).energy);
    expect(energies.at(-1)).toBe(result.energy);
    expect(result.energy).toBeLessThan(energies[0]!);
    expect((fastEvents.filter((e) => e.type === 'progress').at(-1)!.data as Convergence).residual).toBeLessThan(1e-3);

    // A client joining after the end replays from the start; one joining at seq 100 gets the rest.
    const late = await collect(client.jobs.watch([experimentId], { fromSeq: 0, signal: AbortSignal.timeout(10_000) }));
    expect(late).toEqual(fastEvents);
    const resumed = await collect(client.jobs.watch([experimentId], { fromSeq: 100, signal: AbortSignal.timeout(10_000) }));
    expect(resumed).toEqual(fastEvents.slice(100));
    expect((await fetch(`${url}/experiments/${experimentId}`).then((r) => r.json())).state).toBe('succeeded');
  });

  it('joins a running experiment late and still gets every iteration from the first', async () => {
    tmp = tempDir('experiments-');
    app = await startExperiments({
      config: { server: { port: 0 }, data: tmp.dir, log: { level: 'warn' } },
      logDestination: new LogCapture(),
    });
    const { url, runtime } = app;
    const client = new TasklaneClient({ url });
    const job = await runtime.jobs.enqueue('experiments.solve', { ...RUN, size: 300, tolerance: 1e-13 });
    // Wait until the run is well under way before anyone watches.
    for await (const e of runtime.jobs.subscribe(job.id, 0, { signal: AbortSignal.timeout(20_000) }))
      if (e.type === 'progress' && (e.data as Convergence).iteration >= 50) break;
    const events = await collect(client.jobs.watch([job.id], { fromSeq: 0, signal: AbortSignal.timeout(20_000) }));
    const record = await runtime.jobs.get(job.id);
    expectCompleteRun(events, record!.result as ExperimentResult);
  });

  it('stepDelayMs paces the run so a person can watch it converge', async () => {
    tmp = tempDir('experiments-');
    app = await startExperiments({
      config: { server: { port: 0 }, data: tmp.dir, log: { level: 'warn' } },
      logDestination: new LogCapture(),
    });
    const res = await fetch(`${app.url}/experiments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ size: 50, seed: 7, tolerance: 1e-300, maxIterations: 8, stepDelayMs: 100 }),
    });
    expect(res.status).toBe(202);
    const { experimentId } = (await res.json()) as { experimentId: string };
    const events: Array<{ type: string; at: number }> = [];
    for await (const e of app.runtime.jobs.subscribe(experimentId, 0, { signal: AbortSignal.timeout(20_000) })) events.push(e);
    const steps = events.filter((e) => e.type === 'progress');
    expect(steps).toHaveLength(8);
    expect(events.at(-1)!.type).toBe('succeeded');
    // Seven pauses of 100 ms between the first and the last step (a lower bound only).
    expect(steps.at(-1)!.at - steps[0]!.at).toBeGreaterThanOrEqual(650);
  });

  it('rejects bad input with 400 naming the field', async () => {
    tmp = tempDir('experiments-');
    app = await startExperiments({
      config: { server: { port: 0 }, data: tmp.dir, log: { level: 'warn' } },
      logDestination: new LogCapture(),
    });
    const res = await fetch(`${app.url}/experiments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ size: 1 }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('TL_ERR_VALIDATION');
    expect(body.error.message).toMatch(/^size: /);
  });
});
