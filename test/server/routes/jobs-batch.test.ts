/** POST /v1/jobs with an array (DESIGN "Jobs API"): all-or-nothing, 201 { jobs } or 400 naming the index. */
import { afterEach, describe, expect, it } from 'vitest';
import { testServer } from '../../support/runtime.js';
import { api } from './jobs-helpers.js';

type T = Awaited<ReturnType<typeof testServer>>;

async function stored(t: T): Promise<number> {
  const r = await api(t.url, 'GET', '/v1/jobs?limit=500');
  expect(r.status).toBe(200);
  return r.body.jobs.length;
}

async function until<V>(fn: () => Promise<V | undefined>, ms = 10_000): Promise<V> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('POST /v1/jobs with an array', () => {
  let t: T | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('stores every job in order and answers 201 { jobs }; each one runs', async () => {
    t = await testServer();
    const body = [1, 2, 3].map((i) => ({ task: 'demo.progress', input: { steps: 1, ms: 1 }, priority: i, idempotencyKey: `b-${i}` }));
    const r = await api(t.url, 'POST', '/v1/jobs', body);
    expect(r.status).toBe(201);
    expect(r.body.jobs).toHaveLength(3);
    r.body.jobs.forEach((job: any, i: number) => {
      expect(job).toMatchObject({ task: 'demo.progress', priority: i + 1, idempotencyKey: `b-${i + 1}`, lastSeq: 1 });
    });
    expect(new Set(r.body.jobs.map((j: any) => j.id)).size).toBe(3);
    for (const job of r.body.jobs) {
      const done = await until(async () => {
        const g = await api(t!.url, 'GET', `/v1/jobs/${job.id}`);
        return g.body.state === 'succeeded' ? g.body : undefined;
      });
      expect(done.id).toBe(job.id);
    }
    // The same keys again answer the same jobs, made once.
    const again = await api(t.url, 'POST', '/v1/jobs', body);
    expect(again.status).toBe(201);
    expect(again.body.jobs.map((j: any) => j.id)).toEqual(r.body.jobs.map((j: any) => j.id));
    expect(await stored(t)).toBe(3);
  });

  it('refuses the whole array with 400 naming the index of a bad item, storing none of it', async () => {
    t = await testServer();
    const good = { task: 'demo.progress', input: { steps: 1, ms: 1 } };
    const cases: Array<[unknown[], number, number, RegExp]> = [
      [[good, { ...good, nope: 1 }, good], 400, 1, /body\[1\].*unknown field "nope"/],
      [[good, good, { task: '' }], 400, 2, /body\[2\].*task/],
      [[good, { ...good, priority: 1.5 }], 400, 1, /body\[1\].*priority/],
      // Known to the schema, refused by the job system: the index is still named.
      [[good, { task: 'no.such.task', input: {} }], 400, 1, /jobs\[1\].*no\.such\.task/],
    ];
    for (const [body, status, index, message] of cases) {
      const r = await api(t.url, 'POST', '/v1/jobs', body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.error.code).toBe('TL_ERR_VALIDATION');
      expect(r.body.error.message).toMatch(message);
      expect(r.body.error.details.index).toBe(index);
    }
    const empty = await api(t.url, 'POST', '/v1/jobs', []);
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/1 to 1000/);
    expect(await stored(t)).toBe(0);
  });
});
