/**
 * Workflows over HTTP: POST /v1/jobs/:id/signals/:name (scope, owner, 409 on a finished job, body =
 * payload) and what GET /v1/jobs/:id shows of a workflow (waitingFor, steps, parent, children).
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer } from '../../support/runtime.js';
import { api } from './jobs-helpers.js';

const WF_TASKS = fileURLToPath(new URL('../../fixtures/jobs/workflow-tasks.ts', import.meta.url));
const ALICE = 'alice-key-0001';
const BOB = 'bob-key-000001';
const READER = 'reader-key-001';

type T = Awaited<ReturnType<typeof testServer>>;

async function until<V>(what: string, fn: () => Promise<V | undefined>, ms = 15_000): Promise<V> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const inState = (t: T, id: string, states: string[]) =>
  until(`job ${id} in ${states.join('|')}`, async () => {
    const r = await api(t.url, 'GET', `/v1/jobs/${id}`, undefined, ALICE);
    return states.includes(r.body?.state) ? r.body : undefined;
  });

describe('workflows over HTTP', () => {
  let t: T;
  beforeAll(async () => {
    t = await testServer({
      server: {
        apiKeys: [
          { key: ALICE, name: 'alice', scopes: ['jobs:read', 'jobs:write'] },
          { key: BOB, name: 'bob', scopes: ['jobs:read', 'jobs:write'] },
          { key: READER, name: 'reader', scopes: ['jobs:read'] },
        ],
      },
      lanes: { jobs: { placement: 'loop', concurrency: 4, maxQueue: 100, timeoutMs: 30_000 }, data: { concurrency: 1 } },
      jobs: { pollMs: 50, modules: [WF_TASKS] },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a signal POSTed with a JSON body wakes the waiting job; its payload is the result; GET shows waitingFor and steps', async () => {
    const made = await api(t.url, 'POST', '/v1/jobs', { task: 'wf.approval', input: {} }, ALICE);
    expect(made.status).toBe(201);
    const id = made.body.id as string;
    const waiting = await inState(t, id, ['waiting']);
    expect(waiting.waitingFor).toEqual({ kind: 'signal', name: 'approve' });
    expect(waiting.steps).toEqual([{ name: 'draft', occurrence: 0, state: 'completed', durationMs: expect.any(Number) }]);
    // Read-only key: 403; another owner: 404 (it cannot tell the job exists).
    const ro = await api(t.url, 'POST', `/v1/jobs/${id}/signals/approve`, { ok: 1 }, READER);
    expect(ro.status).toBe(403);
    const other = await api(t.url, 'POST', `/v1/jobs/${id}/signals/approve`, { ok: 1 }, BOB);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('TL_ERR_JOB_NOT_FOUND');
    const bad = await api(t.url, 'POST', `/v1/jobs/${id}/signals/${encodeURIComponent('no spaces')}`, {}, ALICE);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('TL_ERR_VALIDATION');
    const sent = await api(t.url, 'POST', `/v1/jobs/${id}/signals/approve`, { approved: true, by: 'ana' }, ALICE);
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ id, state: 'queued' });
    const done = await inState(t, id, ['succeeded', 'dead']);
    expect(done).toMatchObject({ state: 'succeeded', result: { first: { approved: true, by: 'ana' } } });
    expect(done.waitingFor).toBeUndefined();
    // Finished: 409 in the jobs error shape.
    const late = await api(t.url, 'POST', `/v1/jobs/${id}/signals/approve`, { again: true }, ALICE);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('TL_ERR_JOB_STATE');
    expect(late.body.error.message).toContain('succeeded');
  });

  it('a signal with no body is kept (payload null) when it comes before the wait', async () => {
    const made = await api(t.url, 'POST', '/v1/jobs', { task: 'wf.approval', input: {}, delayMs: 300 }, ALICE);
    const id = made.body.id as string;
    const early = await fetch(`${t.url}/v1/jobs/${id}/signals/approve`, { method: 'POST', headers: { authorization: `Bearer ${ALICE}` } });
    expect(early.status).toBe(200);
    expect(((await early.json()) as { state: string }).state).toBe('delayed');
    const done = await inState(t, id, ['succeeded', 'dead']);
    expect(done).toMatchObject({ state: 'succeeded', result: { first: null } });
  });

  it('GET shows a parent its children (spawn order) and a child its parent', async () => {
    const made = await api(t.url, 'POST', '/v1/jobs', { task: 'wf.fanout', input: { n: 3 } }, ALICE);
    const id = made.body.id as string;
    const done = await inState(t, id, ['succeeded', 'dead']);
    expect(done.result).toBe(30);
    expect(done.children).toHaveLength(3);
    expect(done.children.map((c: { task: string; state: string }) => [c.task, c.state])).toEqual([
      ['wf.child', 'succeeded'],
      ['wf.child', 'succeeded'],
      ['wf.child', 'succeeded'],
    ]);
    expect(done.steps.map((s: { name: string }) => s.name)).toEqual(['sum']);
    const kid = await api(t.url, 'GET', `/v1/jobs/${done.children[0].id}`, undefined, ALICE);
    expect(kid.body).toMatchObject({ parentId: id, owner: { key: 'alice' }, result: 0 });
    expect(kid.body.children).toBeUndefined();
    // The children belong to the parent's owner: bob sees none of them.
    expect((await api(t.url, 'GET', `/v1/jobs/${done.children[0].id}`, undefined, BOB)).status).toBe(404);
    const waitingList = await api(t.url, 'GET', '/v1/jobs?state=waiting', undefined, ALICE);
    expect(waitingList.status).toBe(200);
  });
});
