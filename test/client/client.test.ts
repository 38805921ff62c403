import { afterEach, describe, expect, it } from 'vitest';
import { TasklaneClient, TasklaneClientError, type JobEvent } from '../../src/client/index.js';
import { tempDir, testServer } from '../support/runtime.js';
import { assertContiguous } from '../server/routes/jobs-helpers.js';
import { startOn, type Running } from './restartable.js';

type T = Awaited<ReturnType<typeof testServer>>;

async function collect(events: AsyncIterable<JobEvent>, onEvent?: (e: JobEvent) => unknown): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of events) {
    out.push(e);
    await onEvent?.(e);
  }
  return out;
}

async function rejection(p: Promise<unknown>): Promise<TasklaneClientError> {
  try {
    await p;
  } catch (err) {
    expect(TasklaneClientError.isInstance(err)).toBe(true);
    return err as TasklaneClientError;
  }
  throw new Error('expected a rejection');
}

describe('tasklane/client', () => {
  let t: T | undefined;
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await t?.close();
    t = undefined;
  });

  it('submits, gets, lists, cancels and retries, with typed errors', async () => {
    t = await testServer({ server: { apiKeys: ['client-key-123'] } });
    const client = new TasklaneClient({ url: `${t.url}/`, apiKey: 'client-key-123' });
    const job = await client.jobs.submit('demo.progress', { steps: 1, ms: 0 }, { delayMs: 60_000, priority: 3 });
    expect(job).toMatchObject({ task: 'demo.progress', state: 'delayed', priority: 3 });
    expect((await client.jobs.get(job.id)).id).toBe(job.id);
    const page = await client.jobs.list({ state: 'delayed', limit: 10 });
    expect(page.jobs.map((j) => j.id)).toEqual([job.id]);
    expect(page.next).toBeNull();
    expect((await client.jobs.cancel(job.id)).state).toBe('cancelled');
    expect((await client.jobs.retry(job.id)).state).toMatch(/queued|running|succeeded/);

    const missing = await rejection(client.jobs.get('nope'));
    expect(missing).toMatchObject({ code: 'TL_ERR_JOB_NOT_FOUND', status: 404, retryable: false });
    const invalid = await rejection(client.jobs.submit('demo.progress', { steps: -1 }));
    expect(invalid).toMatchObject({ code: 'TL_ERR_VALIDATION', status: 400 });
    expect(invalid.message).toMatch(/steps/);
    const unknown = await rejection(client.jobs.submit('nope.task', {}));
    expect(unknown).toMatchObject({ code: 'TL_ERR_JOB_UNKNOWN_TASK', status: 404 });
    const wrongKey = await rejection(new TasklaneClient({ url: t.url, apiKey: 'wrong' }).jobs.list());
    expect(wrongKey).toMatchObject({ code: 'TL_ERR_AUTH_INVALID', status: 401 });
    const aborted = await rejection(client.jobs.list({}, { signal: AbortSignal.abort() }));
    expect(aborted.code).toBe('TL_ERR_ABORTED');
  });

  it('names the URL when the server cannot be reached', async () => {
    const client = new TasklaneClient({ url: 'http://127.0.0.1:9' });
    const err = await rejection(client.jobs.get('x'));
    expect(err).toMatchObject({ code: 'TL_ERR_CLIENT_NETWORK', status: 0, retryable: true });
    expect(err.message).toContain('http://127.0.0.1:9');
  });

  it('streams a job over SSE and over WebSocket, from any seq', async () => {
    t = await testServer({ server: { apiKeys: ['client-key-123'] } });
    const client = new TasklaneClient({ url: t.url, apiKey: 'client-key-123' });
    const job = await client.jobs.submit('demo.progress', { steps: 20, ms: 2 });
    const sse = await collect(client.jobs.events(job.id));
    expect(sse.length).toBe(23);
    assertContiguous(sse);
    expect(sse.at(-1)!.type).toBe('succeeded');
    expect(await collect(client.jobs.events(job.id, { fromSeq: 10 }))).toEqual(sse.slice(10));

    const jobs = await Promise.all([1, 2, 3].map((n) => client.jobs.submit('demo.progress', { steps: n * 5, ms: 1 })));
    const all = await collect(client.jobs.watch([job.id, ...jobs.map((j) => j.id)], { fromSeq: { [job.id]: 20 } }));
    expect(all.filter((e) => e.jobId === job.id)).toEqual(sse.slice(20));
    jobs.forEach((j, i) => {
      const mine = all.filter((e) => e.jobId === j.id);
      assertContiguous(mine);
      expect(mine.length).toBe((i + 1) * 5 + 3);
      expect(mine.at(-1)!.type).toBe('succeeded');
    });
  });

  it('stops a stream on abort and rejects with TL_ERR_ABORTED', async () => {
    t = await testServer();
    const client = new TasklaneClient({ url: t.url });
    const job = await client.jobs.submit('demo.progress', { steps: 1, ms: 0 }, { delayMs: 60_000 });
    const controller = new AbortController();
    const seen: JobEvent[] = [];
    const err = await rejection(
      collect(client.jobs.events(job.id, { signal: controller.signal }), (e) => {
        seen.push(e);
        controller.abort();
      }),
    );
    expect(err.code).toBe('TL_ERR_ABORTED');
    expect(seen.map((e) => e.type)).toEqual(['enqueued']);
    const watchController = new AbortController();
    const werr = await rejection(collect(client.jobs.watch([job.id], { signal: watchController.signal }), () => watchController.abort()));
    expect(werr.code).toBe('TL_ERR_ABORTED');
  });

  it('resumes SSE and WebSocket streams across a server restart with no duplicate and no hole', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const config = { server: { apiKeys: ['client-key-123'] }, closeDeadlineMs: 2_000 };
    let server: Running = await startOn(tmp.dir, 0, config);
    cleanups.push(() => server.runtime.close());
    const client = new TasklaneClient({ url: server.url, apiKey: 'client-key-123' });
    const job = await client.jobs.submit('demo.progress', { steps: 60, ms: 40 });

    let restarted: Promise<void> | undefined;
    const restart = async (): Promise<void> => {
      await server.runtime.close({ deadlineMs: 500 });
      server = await startOn(tmp.dir, server.port, config);
    };
    const viaSse = collect(client.jobs.events(job.id), (e) => {
      if (e.type === 'progress' && (e.data as { step: number }).step === 10 && !restarted) restarted = restart();
    });
    const viaWs = collect(client.jobs.watch([job.id]));
    const [sse, ws] = await Promise.all([viaSse, viaWs]);
    await restarted;
    assertContiguous(sse);
    expect(ws).toEqual(sse);
    const types = sse.map((e) => e.type);
    // The first attempt was given back on close and ran again after the restart.
    expect(types.filter((x) => x === 'started').length).toBe(2);
    expect(types).toContain('retrying');
    expect(sse.at(-1)).toMatchObject({ type: 'succeeded', data: { result: { steps: 60 } } });
  });
});
