/**
 * A trace across the processes of a fleet (issue 17 point 4): a job made on one server (no
 * worker) and run by another on the same Redis joins the trace of the request that made it,
 * through the traceparent kept in the job record. Two real server processes, one OTLP receiver.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aiConfig } from '../ai/fixtures.js';
import { eventually, startNode, writeConfig, type FleetNode } from '../support/fleet.js';
import { startMockProvider, type MockProvider } from '../support/mock-provider.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';
import { deleteKeys, REDIS_URL, requireRedis, testPrefix } from '../support/redis.js';
import { tempDir } from '../support/runtime.js';

const AI_TASKS = fileURLToPath(new URL('../fixtures/jobs/ai-tasks.ts', import.meta.url));
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_ID = 'b7ad6b7169203331';

const prefix = testPrefix('fleet-trace');
const tmp = tempDir('tasklane-fleet-trace-');
let mock: MockProvider;
let receiver: OtlpReceiver;
const nodes: FleetNode[] = [];

beforeAll(async () => {
  await requireRedis();
  mock = await startMockProvider();
  receiver = await startOtlpReceiver();
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await mock?.close();
  await receiver?.close();
  await deleteKeys(prefix);
  tmp.remove();
});

describe('a trace across two server processes on one Redis', () => {
  it('the job made on one server and run on the other is a child of the enqueue span, in the same trace', async () => {
    const base = {
      ...aiConfig(mock.url, { ai: { cache: { enabled: false } } }),
      server: { port: 0 },
      store: { engine: 'redis' as const, url: REDIS_URL, prefix },
      telemetry: { otlp: { endpoint: receiver.url, batchDelayMs: 50 } },
    };
    const front = await startNode(
      'front',
      writeConfig(tmp.dir, 'front', { ...base, data: `${tmp.dir}/front`, jobs: { worker: false, modules: [AI_TASKS] } }),
    );
    nodes.push(front);
    const worker = await startNode(
      'worker',
      writeConfig(tmp.dir, 'worker', { ...base, data: `${tmp.dir}/worker`, jobs: { pollMs: 20, modules: [AI_TASKS] } }),
    );
    nodes.push(worker);

    const res = await fetch(`${front.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` },
      body: JSON.stringify({ task: 'test.loop-ai', input: { text: 'across the fleet' } }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    let state = '';
    await eventually('the job succeeded on the worker', async () => {
      state = ((await (await fetch(`${front.url}/v1/jobs/${id}`)).json()) as { state: string }).state;
      return state === 'succeeded' || state === 'dead';
    });
    expect(state).toBe('succeeded');

    const spans = await receiver.waitFor((s) => s.some((x) => x.name === 'job test.loop-ai') && s.some((x) => x.name === 'chat gpt-mock'));
    const inTrace = spans.filter((s) => s.traceId === TRACE_ID);
    const enqueue = inTrace.find((s) => s.name === 'enqueue test.loop-ai')!;
    const job = inTrace.find((s) => s.name === 'job test.loop-ai')!;
    expect(enqueue.resource['process.pid']).toBe(front.proc.pid);
    expect(job.resource['process.pid']).toBe(worker.proc.pid);
    expect(job.resource['service.instance.id']).not.toBe(enqueue.resource['service.instance.id']);
    expect(job.parentSpanId).toBe(enqueue.spanId);
    expect(job.attributes['tasklane.worker.id']).toBe(worker.workerId);
    // The rest of the job's tree is the worker's: lane task, AI request, attempt.
    const lane = inTrace.find((s) => s.parentSpanId === job.spanId)!;
    expect(lane.name).toBe('lane demo');
    const call = inTrace.find((s) => s.parentSpanId === lane.spanId)!;
    expect(call.name).toBe('chat chat');
    expect(inTrace.find((s) => s.parentSpanId === call.spanId)?.name).toBe('chat gpt-mock');
    for (const s of [lane, call]) expect(s.resource['process.pid']).toBe(worker.proc.pid);
  });
});
