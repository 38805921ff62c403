/** What `GET /v1/jobs/:id` shows of a job's workflow: its children and its steps, from the engine. */
import type { JobEngine } from '../engine.js';
import type { StepSummary, WorkflowView } from '../types.js';

export async function workflowView(engine: JobEngine, id: string): Promise<WorkflowView> {
  const [children, journal] = await Promise.all([engine.children?.(id) ?? [], engine.readJournal?.(id) ?? []]);
  const steps: StepSummary[] = [];
  // Call order (the engine answers entries in any order).
  for (const e of [...journal].sort((a, b) => (a.pos ?? Number.MAX_SAFE_INTEGER) - (b.pos ?? Number.MAX_SAFE_INTEGER))) {
    if (!e.key.startsWith('step:') || (e.status !== 'completed' && e.status !== 'failed')) continue;
    const hash = e.key.lastIndexOf('#');
    const step: StepSummary = {
      name: e.key.slice(5, hash),
      occurrence: Number(e.key.slice(hash + 1)),
      state: e.status,
      durationMs: Math.max(0, (e.endedAt ?? e.startedAt) - e.startedAt),
    };
    if (e.error) step.error = e.error;
    steps.push(step);
  }
  return { children: children.map((c) => ({ id: c.id, task: c.task, state: c.state })), steps };
}
