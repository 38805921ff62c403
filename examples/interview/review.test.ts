/**
 * Issue #14: a reviewer approves an interview's questions before they are published. The session
 * is a durable job that generates its questions in a step, then parks on `waitForSignal('review')`
 * (state waiting, out of its lane slot); the decision arrives over HTTP as a signal. The questions
 * are not published before it, the AI is not called again when the job wakes (the step is
 * replayed), a rejection publishes nothing, an approval sent early is kept, and a signal to a
 * finished session is refused with 409.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../../test/support/mock-provider.js';
import { LogCapture, tempDir } from '../../test/support/runtime.js';
import { startInterview } from './app.js';
import type { Question } from './questions.js';

interface View {
  sessionId: string;
  status: string;
  reviewer?: string;
  note?: string;
  draft?: Question[] | null;
  questions: Question[] | null;
}

describe('interview: reviewer approval', () => {
  let groq: MockProvider | undefined;
  let hf: MockProvider | undefined;
  let app: Awaited<ReturnType<typeof startInterview>> | undefined;
  let tmp: ReturnType<typeof tempDir> | undefined;

  afterEach(async () => {
    await app?.close();
    await Promise.all([groq?.close(), hf?.close()]);
    tmp?.remove();
    app = tmp = groq = hf = undefined;
  });

  async function start() {
    [groq, hf] = await Promise.all([startMockProvider(), startMockProvider()]);
    tmp = tempDir('interview-review-');
    app = await startInterview({
      providers: {
        groq: { baseURL: `${groq.url}/v1`, apiKeys: ['gsk-r-1'] },
        huggingface: { baseURL: `${hf.url}/hf/v1`, apiKeys: ['hf-r-1'] },
      },
      // No cache: every generation reaches the upstream, so the counts below are the AI's own.
      config: { server: { port: 0 }, data: tmp.dir, jobs: { pollMs: 50 }, ai: { cache: { enabled: false } } },
      logDestination: new LogCapture(),
    });
    return app.url;
  }

  const chatCalls = () => groq!.calls.filter((c) => c.path.endsWith('/chat/completions')).length;

  async function create(url: string, role: string): Promise<string> {
    const res = await fetch(`${url}/interviews`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ role, difficulty: 'Medium', review: true }),
    });
    const body = (await res.json()) as { sessionId: string; status: string; review: { path: string } };
    expect(res.status, JSON.stringify(body)).toBe(202);
    expect(body.review.path).toBe(`/v1/jobs/${body.sessionId}/signals/review`);
    return body.sessionId;
  }

  const view = async (url: string, id: string) => (await (await fetch(`${url}/interviews/${id}`)).json()) as View;

  async function until(url: string, id: string, status: string): Promise<View> {
    const end = Date.now() + 20_000;
    for (;;) {
      const v = await view(url, id);
      if (v.status === status) return v;
      if (Date.now() > end || v.status === 'failed') throw new Error(`session ${id} is ${v.status}, not ${status}: ${JSON.stringify(v)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  const decide = (url: string, id: string, decision: unknown) =>
    fetch(`${url}/v1/jobs/${id}/signals/review`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(decision),
    });

  it('publishes the questions only after the reviewer approves, without asking the AI again', async () => {
    const url = await start();
    const id = await create(url, 'Platform Engineer');
    const waiting = await until(url, id, 'awaiting_review');
    expect(waiting.questions).toBeNull();
    expect(waiting.draft).toHaveLength(5);
    expect(waiting.draft![0]!.text).toContain('Medium Platform Engineer interview');
    expect(chatCalls()).toBe(5);
    // Parked: state waiting for the signal, holding no lane slot; time alone publishes nothing.
    const job = (await (await fetch(`${url}/v1/jobs/${id}`)).json()) as { state: string; waitingFor?: unknown };
    expect(job).toMatchObject({ state: 'waiting', waitingFor: { kind: 'signal', name: 'review' } });
    expect(app!.runtime.lanes.get('reviews').active).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect((await view(url, id)).status).toBe('awaiting_review');

    const sent = await decide(url, id, { approved: true, reviewer: 'ana' });
    expect(sent.status).toBeLessThan(300);
    const published = await until(url, id, 'published');
    expect(published.reviewer).toBe('ana');
    expect(published.questions!.map((q) => q.text)).toEqual(waiting.draft!.map((q) => q.text));
    // The generate step was replayed from the journal when the job woke: still five calls.
    expect(chatCalls()).toBe(5);

    // The session is over: another decision is refused.
    const late = await decide(url, id, { approved: false, reviewer: 'bo' });
    expect(late.status).toBe(409);
    expect(((await late.json()) as { error: { code: string } }).error.code).toBe('TL_ERR_JOB_STATE');
  });

  it('a rejection publishes nothing; an approval sent while the questions are still being generated is kept', async () => {
    const url = await start();
    const rejected = await create(url, 'Data Engineer');
    await until(url, rejected, 'awaiting_review');
    expect((await decide(url, rejected, { approved: false, reviewer: 'bo', note: 'too easy' })).status).toBeLessThan(300);
    const r = await until(url, rejected, 'rejected');
    expect(r).toMatchObject({ reviewer: 'bo', note: 'too easy', questions: null });

    const early = await create(url, 'QA Engineer');
    expect((await decide(url, early, { approved: true, reviewer: 'cy' })).status).toBeLessThan(300);
    const e = await until(url, early, 'published');
    expect(e.reviewer).toBe('cy');
    expect(e.questions).toHaveLength(5);
    expect(chatCalls()).toBe(10);
  });
});
