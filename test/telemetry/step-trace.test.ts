/**
 * Step spans (issue 17 point 4, with #14's ctx.step): each step of a job attempt is a span under
 * the attempt's lane task; the AI calls a step makes go under it; a retried attempt's replayed
 * steps are spans marked replayed with no AI call under them; a step run in a thread lane has
 * that lane task, and the thread's AI call, under it.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { aiConfig } from '../ai/fixtures.js';
import { jobsRuntime, waitFor } from '../jobs/helpers.js';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import type { TestRuntime } from '../support/runtime.js';

const WF_TASKS = fileURLToPath(new URL('../fixtures/jobs/workflow-tasks.ts', import.meta.url));
const TRACE_ID = '5bf92f3577b34da6a3ce929d0e0e4737';
const PARENT = `00-${TRACE_ID}-10f067aa0ba902b8-01`;

let mock: MockProvider;
let receiver: OtlpReceiver;
let t: TestRuntime;
beforeAll(async () => {
  mock = await startMockProvider();
});
afterAll(async () => {
  await mock.close();
});
beforeEach(async () => {
  receiver = await startOtlpReceiver();
  t = await jobsRuntime({
    ...aiConfig(mock.url, { ai: { cache: { enabled: false } } }),
    telemetry: { otlp: { endpoint: receiver.url, batchDelayMs: 50 } },
    jobs: { modules: [WF_TASKS] },
  });
});
afterEach(async () => {
  await t.close();
  await receiver.close();
});

const children = (spans: ReceivedSpan[], parent: ReceivedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId);
const named = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);

describe('step spans', () => {
  it('steps under the attempt, their AI calls under them; the retry replays them (marked) without calling again', async () => {
    const job = await t.runtime.jobs.enqueue('wf.pipeline', { tag: `trace-${Date.now()}`, failFirst: true }, { traceparent: PARENT });
    expect((await waitFor(t.runtime, job.id, ['succeeded', 'dead'])).state).toBe('succeeded');
    const spans = (await receiver.waitFor((s) => named(s, 'job wf.pipeline').length === 2 && named(s, 'step c').length === 2)).filter(
      (s) => s.traceId === TRACE_ID,
    );
    const attempts = named(spans, 'job wf.pipeline').sort(
      (a, b) => Number(a.attributes['tasklane.job.attempt']) - Number(b.attributes['tasklane.job.attempt']),
    );
    expect(attempts.map((a) => a.attributes['tasklane.job.outcome'])).toEqual(['retry', 'succeeded']);
    const calls: Record<string, number> = { 'step a': 1, 'step b': 3, 'step c': 1 };
    for (const [i, attempt] of attempts.entries()) {
      const [lane] = children(spans, attempt);
      expect(lane!.name).toBe('lane jobs');
      const steps = children(spans, lane!).sort((a, b) => a.startMs - b.startMs);
      expect(steps.map((s) => s.name)).toEqual(['step a', 'step b', 'step c']);
      for (const step of steps) {
        expect(step.attributes['tasklane.job.id']).toBe(job.id);
        expect(step.attributes['tasklane.step.occurrence']).toBe(0);
        const ai = children(spans, step);
        if (i === 0) {
          // The first attempt ran each step: its AI calls are under it, each with its upstream attempt.
          expect(step.attributes['tasklane.step.replayed']).toBeUndefined();
          expect(ai.map((s) => s.name)).toEqual(Array(calls[step.name]).fill('chat chat'));
          for (const call of ai) expect(children(spans, call).map((s) => s.name)).toEqual(['chat gpt-mock']);
        } else {
          // The retry replayed it from the journal: no AI call, nothing paid twice.
          expect(step.attributes['tasklane.step.replayed']).toBe(true);
          expect(ai).toEqual([]);
        }
      }
    }
  });

  it('a step in a thread lane: the step, its lane task in a thread, the thread’s AI call under that', async () => {
    const job = await t.runtime.jobs.enqueue('wf.lane-step', { text: 'from a thread step' }, { traceparent: PARENT });
    const done = await waitFor(t.runtime, job.id, ['succeeded', 'dead']);
    expect(done.state).toBe('succeeded');
    expect((done.result as { inThread: boolean }).inThread).toBe(true);
    const spans = (
      await receiver.waitFor((s) => named(s, 'job wf.lane-step').length === 1 && named(s, 'step in-thread').length === 1)
    ).filter((s) => s.traceId === TRACE_ID);
    const [step] = named(spans, 'step in-thread');
    const [lane] = children(spans, step!);
    expect(lane!.name).toBe('lane data');
    expect(lane!.attributes['tasklane.lane.placement']).toBe('thread');
    const [call] = children(spans, lane!);
    expect(call!.name).toBe('chat chat');
    expect(children(spans, call!).map((s) => s.attributes['tasklane.ai.outcome'])).toEqual(['ok']);
  });
});
