import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../support/runtime.js';
import { startOn, type Running } from '../../client/restartable.js';
import { api, assertContiguous, readSse, waitForState } from './jobs-helpers.js';

describe('jobs across a server restart', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('loses nothing: queued and running jobs all finish on the next server, each stream whole', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    // One job at a time, so one runs and the rest wait in the queue when the first server stops.
    const config = { lanes: { demo: { placement: 'loop' as const, concurrency: 1, maxQueue: 100, timeoutMs: 60_000 } } };
    let server: Running = await startOn(tmp.dir, 0, config);
    cleanups.push(() => server.runtime.close());
    const ids: string[] = [];
    for (let i = 0; i < 6; i++)
      ids.push((await api(server.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 30, ms: 20 } })).body.id);
    await waitForState(server.url, ids[0]!, ['running']);
    const before = (await api(server.url, 'GET', '/v1/jobs?limit=500')).body.jobs;
    expect(before.filter((j: { state: string }) => j.state === 'running').length).toBe(1);
    expect(before.filter((j: { state: string }) => j.state === 'queued').length).toBe(5);

    await server.runtime.close({ deadlineMs: 500 });
    server = await startOn(tmp.dir, 0, config);
    for (const id of ids) await waitForState(server.url, id, ['succeeded'], undefined, 30_000);
    for (const id of ids) {
      const { events } = await readSse(`${server.url}/v1/jobs/${id}/events`);
      assertContiguous(events);
      expect(events.filter((e) => e.type === 'succeeded').length).toBe(1);
      expect(events.at(-1)).toMatchObject({ type: 'succeeded', data: { result: { steps: 30 } } });
    }
    const first = (await readSse(`${server.url}/v1/jobs/${ids[0]}/events`)).events.map((e) => e.type);
    expect(first.filter((x) => x === 'started').length).toBe(2);
  }, 60_000);
});
