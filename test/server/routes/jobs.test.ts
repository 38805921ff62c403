import { afterEach, describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../../src/errors.js';
import { defineTask } from '../../../src/jobs/task.js';
import { testServer } from '../../support/runtime.js';
import { api } from './jobs-helpers.js';

type T = Awaited<ReturnType<typeof testServer>>;

/** A task that fails at once and for good: its jobs end dead. */
const failing = defineTask({
  name: 'test.fail',
  lane: 'demo',
  run() {
    throw new NonRetryableError('broken on purpose');
  },
});

describe('jobs over HTTP', () => {
  let t: T | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('submits (201), gets, and answers 404 with the job code for an unknown id', async () => {
    t = await testServer();
    const made = await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 2, ms: 1 }, priority: 5 });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({
      id: expect.any(String),
      task: 'demo.progress',
      input: { steps: 2, ms: 1 },
      priority: 5,
      state: expect.stringMatching(/queued|running|succeeded/),
    });
    const got = await api(t.url, 'GET', `/v1/jobs/${made.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body.id).toBe(made.body.id);
    const missing = await api(t.url, 'GET', '/v1/jobs/no-such-job');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('TL_ERR_JOB_NOT_FOUND');
    expect(missing.body.error.message).toContain('no-such-job');
    for (const action of ['cancel', 'retry']) {
      const r = await api(t.url, 'POST', `/v1/jobs/no-such-job/${action}`, {});
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('TL_ERR_JOB_NOT_FOUND');
    }
  });

  it('answers 404 TL_ERR_JOB_UNKNOWN_TASK for a task nobody registered', async () => {
    t = await testServer();
    const r = await api(t.url, 'POST', '/v1/jobs', { task: 'no.such.task', input: {} });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('TL_ERR_JOB_UNKNOWN_TASK');
    expect(r.body.error.message).toContain('no.such.task');
  });

  it('rejects bad bodies and queries with 400 TL_ERR_VALIDATION naming the field', async () => {
    t = await testServer();
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['POST', '/v1/jobs', { input: {} }, /task: Required/],
      ['POST', '/v1/jobs', { task: 'demo.progress', priority: 'high' }, /priority: Expected number, received string/],
      ['POST', '/v1/jobs', { task: 'demo.progress', delayMs: -5 }, /delayMs: Number must be greater than or equal to 0/],
      ['POST', '/v1/jobs', { task: 'demo.progress', maxAttempts: 0 }, /maxAttempts/],
      ['POST', '/v1/jobs', { task: 'demo.progress', colour: 'red' }, /unknown field "colour"/],
      ['POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 'many' } }, /input of task "demo.progress" is invalid: steps/],
      ['GET', '/v1/jobs?limit=0', undefined, /limit: Number must be greater than or equal to 1/],
      ['GET', '/v1/jobs?limit=501', undefined, /limit: Number must be less than or equal to 500/],
      ['GET', '/v1/jobs?state=sleeping', undefined, /state: Invalid enum value/],
      ['GET', '/v1/jobs?colour=red', undefined, /unknown field "colour"/],
    ];
    for (const [method, path, body, message] of cases) {
      const r = await api(t.url, method, path, body);
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.error.code).toBe('TL_ERR_VALIDATION');
      expect(r.body.error.message).toMatch(message);
    }
    const notJson = await fetch(`${t.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"task":' });
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error.code).toBe('TL_ERR_VALIDATION');
  });

  it('answers 200 with the first job when an idempotency key is reused', async () => {
    t = await testServer();
    const first = await api(t.url, 'POST', '/v1/jobs', {
      task: 'demo.progress',
      input: { steps: 1, ms: 0 },
      idempotencyKey: 'order-42',
      delayMs: 60_000,
    });
    expect(first.status).toBe(201);
    await new Promise((r) => setTimeout(r, 5));
    const again = await api(t.url, 'POST', '/v1/jobs', {
      task: 'demo.progress',
      input: { steps: 1, ms: 0 },
      idempotencyKey: 'order-42',
      delayMs: 60_000,
    });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const other = await api(t.url, 'POST', '/v1/jobs', {
      task: 'demo.progress',
      input: { steps: 1, ms: 0 },
      idempotencyKey: 'order-43',
      delayMs: 60_000,
    });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
  });

  it('cancels and retries, answering 409 TL_ERR_JOB_STATE when the state does not allow it', async () => {
    t = await testServer();
    const job = (await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 1, ms: 0 }, delayMs: 60_000 })).body;
    expect(job.state).toBe('delayed');
    const queuedRetry = await api(t.url, 'POST', `/v1/jobs/${job.id}/retry`, {});
    expect(queuedRetry.status).toBe(409);
    expect(queuedRetry.body.error.code).toBe('TL_ERR_JOB_STATE');
    const cancelled = await api(t.url, 'POST', `/v1/jobs/${job.id}/cancel`, {});
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.state).toBe('cancelled');
    const twice = await api(t.url, 'POST', `/v1/jobs/${job.id}/cancel`, {});
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('TL_ERR_JOB_STATE');
    const retried = await api(t.url, 'POST', `/v1/jobs/${job.id}/retry`, {});
    expect(retried.status).toBe(200);
    expect(retried.body.state).toMatch(/queued|running|succeeded/);
  });

  it('retries a dead job', async () => {
    t = await testServer();
    t.runtime.jobs.register(failing);
    const job = (await api(t.url, 'POST', '/v1/jobs', { task: 'test.fail', input: null, maxAttempts: 1 })).body;
    let state = job.state;
    for (let i = 0; i < 200 && state !== 'dead'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      state = (await api(t.url, 'GET', `/v1/jobs/${job.id}`)).body.state;
    }
    expect(state).toBe('dead');
    const dead = (await api(t.url, 'GET', `/v1/jobs/${job.id}`)).body;
    expect(dead.error).toMatchObject({ code: 'TL_ERR_JOB_NON_RETRYABLE', message: 'broken on purpose' });
    const retried = await api(t.url, 'POST', `/v1/jobs/${job.id}/retry`, {});
    expect(retried.status).toBe(200);
    expect(retried.body.state).toMatch(/queued|running|dead/);
  });

  it('pages through the list with limit and cursor, filtered by state and task', async () => {
    t = await testServer();
    t.runtime.jobs.register(failing);
    const ids = new Set<string>();
    for (let i = 0; i < 7; i++)
      ids.add((await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 1, ms: 0 }, delayMs: 60_000 })).body.id);
    await api(t.url, 'POST', '/v1/jobs', { task: 'test.fail', input: null, delayMs: 60_000 });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: { status: number; body: any } = await api(
        t.url,
        'GET',
        `/v1/jobs?task=demo.progress&state=delayed&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(r.status).toBe(200);
      expect(r.body.jobs.length).toBeLessThanOrEqual(3);
      for (const j of r.body.jobs) {
        expect(j.task).toBe('demo.progress');
        expect(j.state).toBe('delayed');
        seen.push(j.id);
      }
      cursor = r.body.next;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen.length).toBe(7);
    expect(new Set(seen)).toEqual(ids);
    const all = await api(t.url, 'GET', '/v1/jobs?limit=500');
    expect(all.body.jobs.length).toBe(8);
    expect(all.body.next).toBeNull();
    const failingOnly = await api(t.url, 'GET', '/v1/jobs?task=test.fail');
    expect(failingOnly.body.jobs.map((j: any) => j.task)).toEqual(['test.fail']);
  });

  it('needs jobs:write to submit, cancel and retry and jobs:read to read', async () => {
    // One tenant, so the reader sees the writer's jobs (ownership is tested in ownership.test.ts).
    t = await testServer({
      server: {
        apiKeys: [
          { key: 'reader-key-123', scopes: ['jobs:read'], tenant: 'team', sees: 'tenant' },
          { key: 'writer-key-123', scopes: ['jobs:write'], tenant: 'team' },
          'admin-key-123',
        ],
      },
    });
    expect((await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: {} })).status).toBe(401);
    const denied = await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: {} }, 'reader-key-123');
    expect(denied.status).toBe(403);
    expect(denied.body.error).toEqual({ code: 'TL_ERR_AUTH_FORBIDDEN', message: 'this key lacks the "jobs:write" scope' });
    const made = await api(
      t.url,
      'POST',
      '/v1/jobs',
      { task: 'demo.progress', input: { steps: 1, ms: 0 }, delayMs: 60_000 },
      'writer-key-123',
    );
    expect(made.status).toBe(201);
    expect((await api(t.url, 'GET', `/v1/jobs/${made.body.id}`, undefined, 'writer-key-123')).status).toBe(403);
    expect((await api(t.url, 'GET', `/v1/jobs/${made.body.id}`, undefined, 'reader-key-123')).status).toBe(200);
    expect((await api(t.url, 'GET', '/v1/jobs', undefined, 'reader-key-123')).status).toBe(200);
    expect((await api(t.url, 'POST', `/v1/jobs/${made.body.id}/cancel`, {}, 'reader-key-123')).status).toBe(403);
    expect((await api(t.url, 'POST', `/v1/jobs/${made.body.id}/cancel`, {}, 'admin-key-123')).status).toBe(200);
  });

  it('mints stream tokens for jobs:read only, within the TTL bound', async () => {
    t = await testServer({ server: { apiKeys: [{ key: 'writer-key-123', scopes: ['jobs:write'] }, 'admin-key-123'] } });
    const ok = await api(t.url, 'POST', '/v1/tokens', {}, 'admin-key-123');
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ token: expect.stringMatching(/^tl1\./), scopes: ['jobs:read'] });
    expect(ok.body.expiresAt - Date.now()).toBeGreaterThan(50_000);
    expect(ok.body.expiresAt - Date.now()).toBeLessThanOrEqual(60_000);
    expect((await api(t.url, 'POST', '/v1/tokens', {}, 'writer-key-123')).status).toBe(403);
    expect((await api(t.url, 'POST', '/v1/tokens', {})).status).toBe(401);
    const wider = await api(t.url, 'POST', '/v1/tokens', { scopes: ['jobs:write'] }, 'admin-key-123');
    expect(wider.status).toBe(400);
    expect(wider.body.error.message).toMatch(/scopes\.0/);
    const tooLong = await api(t.url, 'POST', '/v1/tokens', { ttlMs: 7_200_000 }, 'admin-key-123');
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toContain('server.streams.maxTokenTtlMs');
  });

  it('reports the job store in /readyz', async () => {
    t = await testServer();
    expect((await api(t.url, 'GET', '/readyz')).body).toEqual({ status: 'ready' });
    // The store closes while the server still answers: /readyz names it.
    await t.runtime.jobs.close();
    const r = await api(t.url, 'GET', '/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ status: 'not_ready', problems: { store: 'job system closing' } });
  });
});
