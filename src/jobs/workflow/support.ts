/**
 * Small shared pieces of the workflow calls: the engine check (the workflow methods are optional
 * on JobEngine) and the name rules for signals and steps.
 */
import { ValidationError, jobsError } from '../../errors.js';
import type { JobEngine } from '../engine.js';

type WorkflowMethods = 'readJournal' | 'writeJournal' | 'park' | 'wakeDue' | 'signal' | 'takeSignal' | 'children';

/** The engine, known to have `method`; else TL_ERR_JOB_WORKFLOW_UNSUPPORTED naming the engine. */
export function workflowEngine<K extends WorkflowMethods>(engine: JobEngine, method: K): JobEngine & Required<Pick<JobEngine, K>> {
  if (typeof engine[method] !== 'function') {
    throw jobsError(
      'TL_ERR_JOB_WORKFLOW_UNSUPPORTED',
      `the ${engine.kind} job engine does not implement ${method}(), which workflows need (steps, sleep, signals, child jobs); use an engine that passes test/engines/conformance-workflows.ts (sqlite does)`,
      { details: { engine: engine.kind, method } },
    );
  }
  return engine as JobEngine & Required<Pick<JobEngine, K>>;
}

const NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

/** Signal names travel in URLs and journal keys: 1 to 100 of letters, digits, `_ . : -`. */
export function checkSignalName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name))
    throw new ValidationError(`signal name must be 1 to 100 letters, digits or _ . : - (got ${JSON.stringify(String(name)).slice(0, 60)})`);
}

/** Step names go into journal keys (`step:<name>#<n>`): 1 to 200 characters, no `#`. */
export function checkStepName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200 || name.includes('#'))
    throw new ValidationError(`step name must be 1 to 200 characters without "#" (got ${JSON.stringify(String(name)).slice(0, 60)})`);
}
