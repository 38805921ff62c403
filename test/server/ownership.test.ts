import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer } from '../support/runtime.js';
import { TestSocket, api, readSse } from './routes/jobs-helpers.js';

type T = Awaited<ReturnType<typeof testServer>>;

/** Two tenants, two keys in one of them, a tenant-wide viewer, a key that names tenants by header, and an admin. */
const KEYS = {
  alice: { key: 'alice-key-0001', name: 'alice', tenant: 'acme', scopes: ['jobs:read', 'jobs:write'] },
  bob: { key: 'bob-key-00001', name: 'bob', tenant: 'acme', scopes: ['jobs:read', 'jobs:write'] },
  lead: { key: 'lead-key-0001', name: 'lead', tenant: 'acme', sees: 'tenant', scopes: ['jobs:read', 'jobs:write'] },
  carol: { key: 'carol-key-001', name: 'carol', tenant: 'globex', scopes: ['jobs:read', 'jobs:write'] },
  svc: { key: 'svc-key-00001', name: 'svc', tenantHeader: true, scopes: ['jobs:read', 'jobs:write'] },
  root: { key: 'root-key-0001', name: 'root', scopes: ['admin'] },
} as const;
type Who = keyof typeof KEYS;

/** The model the server must follow: who sees which job (by the maker's key and tenant). */
function sees(who: Who, owner: { key: string; tenant?: string }): boolean {
  const k = KEYS[who] as { name: string; tenant?: string; sees?: string; scopes: readonly string[] };
  if (k.scopes.includes('admin')) return true;
  if (k.sees === 'tenant') return owner.tenant === k.tenant;
  return owner.key === k.name;
}

const call = (t: T, who: Who, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${t.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${KEYS[who].key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then(async (res) => ({ status: res.status, body: (await res.json()) as any }));

/** A job that waits an hour, so every route (cancel included) meets it in a known state. */
const submit = async (t: T, who: Who, headers: Record<string, string> = {}) => {
  const r = await call(t, who, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 1, ms: 0 }, delayMs: 3_600_000 }, headers);
  expect(r.status).toBe(201);
  return r.body as { id: string; owner: { key: string; tenant?: string } };
};

async function listAll(t: T, who: Who, query = ''): Promise<string[]> {
  const ids: string[] = [];
  let cursor = '';
  for (;;) {
    const r = await call(t, who, 'GET', `/v1/jobs?limit=500${query}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(r.status).toBe(200);
    ids.push(...r.body.jobs.map((j: { id: string }) => j.id));
    if (!r.body.next) return ids;
    cursor = r.body.next;
  }
}

async function wsSubscribe(t: T, jobId: string, auth: { key?: string; token?: string }): Promise<any> {
  const s = new TestSocket(
    `${t.url.replace('http', 'ws')}/v1/ws${auth.token ? `?token=${auth.token}` : ''}`,
    auth.key ? { authorization: `Bearer ${auth.key}` } : {},
  );
  try {
    await s.opened();
    s.send({ op: 'subscribe', jobId });
    await s.until(
      () => s.messages.some((m) => m.jobId === jobId && (m.type === 'subscribed' || m.type === 'error')),
      'an answer to subscribe',
    );
    return s.messages.find((m) => m.jobId === jobId);
  } finally {
    s.close();
  }
}

describe("job ownership: a key sees only its own jobs (or its tenant's, or all with admin)", () => {
  let t: T;
  const jobs: Record<string, { id: string; owner: { key: string; tenant?: string } }> = {};
  beforeAll(async () => {
    t = await testServer({ server: { apiKeys: Object.values(KEYS).map((k) => ({ ...k, scopes: [...k.scopes] })) } });
    for (const who of ['alice', 'bob', 'carol'] as const) jobs[who] = await submit(t, who);
    jobs.svcAcme = await submit(t, 'svc', { 'x-tasklane-tenant': 'acme' });
    jobs.svcGlobex = await submit(t, 'svc', { 'x-tasklane-tenant': 'globex' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("records the maker's key name and tenant on the job", () => {
    expect(jobs.alice!.owner).toEqual({ key: 'alice', tenant: 'acme' });
    expect(jobs.carol!.owner).toEqual({ key: 'carol', tenant: 'globex' });
    expect(jobs.svcAcme!.owner).toEqual({ key: 'svc', tenant: 'acme' });
  });

  it("answers another key's job exactly as a job that does not exist: 404, never 403", async () => {
    const id = jobs.carol!.id;
    const theirs = await call(t, 'alice', 'GET', `/v1/jobs/${id}`);
    expect(theirs.status).toBe(404);
    const missing = await call(t, 'alice', 'GET', `/v1/jobs/no-such-job`);
    expect(theirs.body).toEqual(JSON.parse(JSON.stringify(missing.body).replaceAll('no-such-job', id)));
    for (const action of ['cancel', 'retry']) {
      const r = await call(t, 'alice', 'POST', `/v1/jobs/${id}/${action}`, {});
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('TL_ERR_JOB_NOT_FOUND');
    }
    // Nothing happened to it.
    expect((await call(t, 'carol', 'GET', `/v1/jobs/${id}`)).body.state).toBe('delayed');
    const sse = await fetch(`${t.url}/v1/jobs/${id}/events`, { headers: { authorization: `Bearer ${KEYS.alice.key}` } });
    expect(sse.status).toBe(404);
    expect(((await sse.json()) as any).error.code).toBe('TL_ERR_JOB_NOT_FOUND');
  });

  it('lists only what each key sees: own jobs, the tenant\'s for sees: "tenant", all for admin', async () => {
    const everyJob = Object.values(jobs);
    for (const who of Object.keys(KEYS) as Who[]) {
      const listed = new Set(await listAll(t, who));
      for (const job of everyJob)
        expect(listed.has(job.id), `${who} listing ${job.owner.key}/${job.owner.tenant}`).toBe(sees(who, job.owner));
    }
    // Filters still apply within the view.
    expect(await listAll(t, 'lead', '&state=delayed&task=demo.progress')).toEqual(
      expect.arrayContaining([jobs.alice!.id, jobs.bob!.id, jobs.svcAcme!.id]),
    );
    expect(await listAll(t, 'alice', '&state=queued')).toEqual([]);
  });

  it('honours x-tasklane-tenant only for keys whose entry allows it', async () => {
    const refused = await call(t, 'alice', 'GET', '/v1/jobs', undefined, { 'x-tasklane-tenant': 'globex' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('TL_ERR_AUTH_FORBIDDEN');
    // Naming its own tenant is no escalation.
    expect((await call(t, 'alice', 'GET', '/v1/jobs', undefined, { 'x-tasklane-tenant': 'acme' })).status).toBe(200);
    // svc acting for globex sees its globex job and not its acme one.
    const asGlobex = await call(t, 'svc', 'GET', `/v1/jobs/${jobs.svcAcme!.id}`, undefined, { 'x-tasklane-tenant': 'globex' });
    expect(asGlobex.status).toBe(404);
    expect((await call(t, 'svc', 'GET', `/v1/jobs/${jobs.svcGlobex!.id}`, undefined, { 'x-tasklane-tenant': 'globex' })).status).toBe(200);
  });

  it('follows only visible jobs over SSE and WebSocket, with a key or a stream token', async () => {
    const mine = jobs.alice!.id;
    const theirs = jobs.carol!.id;
    const sseOk = await fetch(`${t.url}/v1/jobs/${mine}/events`, {
      headers: { authorization: `Bearer ${KEYS.alice.key}` },
      signal: AbortSignal.timeout(5_000),
    });
    expect(sseOk.status).toBe(200);
    await sseOk.body?.cancel();
    expect((await wsSubscribe(t, mine, { key: KEYS.alice.key })).type).toBe('subscribed');
    const refused = await wsSubscribe(t, theirs, { key: KEYS.alice.key });
    expect(refused).toMatchObject({ type: 'error', error: { code: 'TL_ERR_JOB_NOT_FOUND' } });

    // A token carries its key's view: a token minted by alice opens alice's jobs only.
    const token = (await call(t, 'alice', 'POST', '/v1/tokens', {})).body.token as string;
    expect((await readSse(`${t.url}/v1/jobs/${theirs}/events?token=${token}`)).status).toBe(404);
    const viaToken = await fetch(`${t.url}/v1/jobs/${mine}/events?token=${token}`, { signal: AbortSignal.timeout(5_000) });
    expect(viaToken.status).toBe(200);
    await viaToken.body?.cancel();
    expect((await wsSubscribe(t, theirs, { token })).error.code).toBe('TL_ERR_JOB_NOT_FOUND');
    expect((await wsSubscribe(t, mine, { token })).type).toBe('subscribed');
    // A token listing another key's job still does not open it.
    const listing = (await call(t, 'alice', 'POST', '/v1/tokens', { jobs: [theirs] })).body.token as string;
    expect((await wsSubscribe(t, theirs, { token: listing })).error.code).toBe('TL_ERR_JOB_NOT_FOUND');
    // The admin's token sees everything.
    const rootToken = (await call(t, 'root', 'POST', '/v1/tokens', {})).body.token as string;
    expect((await wsSubscribe(t, theirs, { token: rootToken })).type).toBe('subscribed');
  });

  it("counts only visible jobs in the dashboard's overview", async () => {
    const delayed = async (who: Who) => (await call(t, who, 'GET', '/v1/admin/overview')).body.jobs.counts.delayed.count as number;
    const all = Object.values(jobs);
    for (const who of ['alice', 'lead', 'carol', 'root'] as const)
      expect(await delayed(who), who).toBe(all.filter((j) => sees(who, j.owner)).length);
  });

  it('keeps idempotency keys per key: the same key from another key makes its own job', async () => {
    const body = { task: 'demo.progress', input: { steps: 1, ms: 0 }, delayMs: 3_600_000, idempotencyKey: 'order-42' };
    const a = await call(t, 'alice', 'POST', '/v1/jobs', body);
    const c = await call(t, 'carol', 'POST', '/v1/jobs', body);
    expect([a.status, c.status]).toEqual([201, 201]);
    expect(c.body.id).not.toBe(a.body.id);
    expect(c.body.idempotencyKey).toBe('order-42');
    const again = await call(t, 'alice', 'POST', '/v1/jobs', body);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(a.body.id);
    expect(again.body.idempotencyKey).toBe('order-42');
  });

  it('property: for random (key, route, job), a visible job is served and an invisible one is a 404', async () => {
    const makers = ['alice', 'bob', 'carol', 'svc'] as const;
    const routes = ['get', 'cancel', 'retry', 'events', 'list', 'ws'] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...(Object.keys(KEYS) as Who[])),
        fc.constantFrom(...routes),
        fc.constantFrom(...makers),
        fc.constantFrom('acme', 'globex'),
        async (who, route, maker, tenant) => {
          const job = await submit(t, maker, maker === 'svc' ? { 'x-tasklane-tenant': tenant } : {});
          const visible = sees(who, job.owner);
          let served: boolean;
          if (route === 'list') served = (await listAll(t, who)).includes(job.id);
          else if (route === 'ws') served = (await wsSubscribe(t, job.id, { key: KEYS[who].key })).type === 'subscribed';
          else if (route === 'events') {
            const res = await fetch(`${t.url}/v1/jobs/${job.id}/events`, {
              headers: { authorization: `Bearer ${KEYS[who].key}` },
              signal: AbortSignal.timeout(5_000),
            });
            await res.body?.cancel();
            expect([200, 404]).toContain(res.status);
            served = res.status === 200;
          } else {
            const r =
              route === 'get'
                ? await call(t, who, 'GET', `/v1/jobs/${job.id}`)
                : await call(t, who, 'POST', `/v1/jobs/${job.id}/${route}`, {});
            // A visible job answers (cancel: 200; retry of a delayed job: 409 state); an invisible one is a 404, never a 403.
            expect(r.status).not.toBe(403);
            served = r.status !== 404;
          }
          expect(served, `${who} ${route} a job of ${job.owner.key}/${job.owner.tenant}`).toBe(visible);
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);
});

describe('job ownership with auth off', () => {
  it('leaves no-key mode as it was: jobs have no owner and every job is visible', async () => {
    const t = await testServer();
    try {
      const made = await api(t.url, 'POST', '/v1/jobs', { task: 'demo.progress', input: { steps: 1, ms: 0 } });
      expect(made.status).toBe(201);
      expect(made.body.owner).toBeUndefined();
      expect((await api(t.url, 'GET', `/v1/jobs/${made.body.id}`)).status).toBe(200);
      expect((await api(t.url, 'GET', '/v1/jobs')).body.jobs.map((j: { id: string }) => j.id)).toContain(made.body.id);
    } finally {
      await t.close();
    }
  });
});
